import { randomFillSync } from 'node:crypto'
import { v7 as uuidv7, validate, version } from 'uuid'

/**
 * Random bytes for ids, drawn from the CSPRNG 4 KiB at a time, as Node's own
 * randomUUID() does. uuid's v7() calls crypto.getRandomValues for each id's
 * 16 bytes, and that call costs ~2 µs (WebCrypto's checks around it, more
 * than the bytes): an id cost 2.0 µs, now 0.36 (`npm run bench:ids`). Every
 * insert takes an id; an event through the bus takes four or five.
 */
const pool = new Uint8Array(16 * 256)
let poolAt = pool.length

function randomBytes() {
  if (poolAt === pool.length) {
    randomFillSync(pool)
    poolAt = 0
  }
  const bytes = pool.subarray(poolAt, poolAt + 16)
  poolAt += 16
  return bytes
}

/**
 * The last id's millisecond and counter (RFC 9562's monotonic counter, kept as
 * uuid's v7() keeps it when it draws its own bytes): ids made in the same
 * millisecond still sort in the order they were made.
 */
const last = { msecs: Number.NEGATIVE_INFINITY, seq: 0 }

/** Time-ordered ids (UUIDv7): index-friendly and sortable by creation. */
export function newId(): string {
  const random = randomBytes()
  const now = Date.now()
  if (now > last.msecs) {
    // A new millisecond: the counter starts from 31 random bits.
    last.seq = ((random[6] & 0x7f) << 24) | (random[7] << 16) | (random[8] << 8) | random[9]
    last.msecs = now
  } else {
    last.seq = (last.seq + 1) | 0
    if (last.seq === 0) last.msecs++
  }
  // uuid lays out the bytes (version, variant, time, counter); it copies the random ones.
  return uuidv7({ random, msecs: last.msecs, seq: last.seq })
}

export function isUuid(value: string): boolean {
  return validate(value) && [4, 7].includes(version(value))
}

/**
 * newId() as a SQL expression, for rows one statement fans out itself (the
 * local relay writes one delivery per event and subscriber it claims):
 * PostgreSQL 15 has no uuidv7(). The statement's millisecond (now()) in the
 * first 48 bits, version 7, then `sequence` — the row's place, from 0, in the
 * order the ids must sort in — where newId() keeps its counter (12 bits), and
 * the variant and 62 random bits. Rows written together share their due time,
 * so a claim's tie-break, the id, must follow them: random bits there handed
 * a subscriber one tenant's deliveries out of order across claims. Past 4,095
 * rows in one statement the rest share the last place (still unique, by their
 * random bits); a relay writes at most 100 events times their subscribers.
 */
export function sqlNewId(sequence: string) {
  return `encode(overlay(uuid_send(gen_random_uuid())
    PLACING substring(int8send(floor(extract(epoch FROM now()) * 1000)::int8) FROM 3)
      || int2send((28672 + least(${sequence}, 4095))::int2)
    FROM 1 FOR 8), 'hex')::uuid`
}
