import { randomUUID } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { EventEnvelope } from '#app/messaging/types'
import { allSubscriptions, subscribersOf } from '#app/messaging/subscribers'
import { newId, sqlNewId } from '#app/platform/ids'
import { COMMIT_WITHOUT_FLUSH, preparedRaw } from '#app/platform/job_queue'
import { dueInTurns, lastTurnServed, NO_GROUP } from '#app/platform/turns'
import { beginWithFirstStatement } from '#app/tenancy/begin_with_settings'
import { consumedHere, type TransportName } from '#app/messaging/handling'

export const DELIVERIES_CHANNEL = 'atrium_deliveries'

/**
 * This process's mark on the deliveries it relays (the NOTIFY's payload): its
 * own worker handles them in the same pass, so only other processes need to
 * wake for them — and only a relay that wrote deliveries for a subscriber
 * this process does not consume sends it (see localTransport).
 */
export const RELAYED_HERE = randomUUID()

/** Outbox rows a relay pass takes at most. */
export const RELAY_BATCH_SIZE = 100

export interface OutboxRow {
  id: string
  type: string
  version: number
  tenant_id: string | null
  aggregate_id: string | null
  payload: unknown
  occurred_at: Date
}

/** A delivery leased to this process's worker: the event, and the subscriber that handles it. */
export interface LeasedDelivery {
  deliveryId: string
  subscriber: string
  /** Counted when it was leased, as a claim counts it. */
  attempts: number
  event: EventEnvelope
}

/**
 * What a relay pass hands the deliveries pass that follows it: the local
 * transport writes the deliveries of subscribers this process consumes
 * already leased for `leaseSeconds` — attempts 1, due a lease ahead, as a
 * claim leaves them — and lists them here, so the pass handles them without
 * claiming them back (a statement and a commit per pass). Lost in a crash,
 * they are claimable when the lease ends, as a claimed delivery is.
 */
export interface Handoff {
  leaseSeconds: number
  /**
   * At most this many are leased: what one claim takes, so a pass never holds
   * more than a claim would give it (a relay batch of 100 events for ten
   * subscribers writes 1,000). The rest are written due now, for a claim.
   */
  limit: number
  deliveries: LeasedDelivery[]
}

export function toEnvelope(row: OutboxRow): EventEnvelope {
  return {
    id: row.id,
    type: row.type as EventEnvelope['type'],
    version: row.version,
    tenantId: row.tenant_id,
    aggregateId: row.aggregate_id,
    occurredAt: new Date(row.occurred_at).toISOString(),
    payload: row.payload as EventEnvelope['payload'],
  }
}

/** Where the relay hands events: local (PostgreSQL deliveries), BullMQ, RabbitMQ or Kafka. */
export interface Transport {
  readonly name: TransportName
  /**
   * Hands a claimed batch over, inside the relay's transaction: throwing rolls
   * the batch back and it is retried, so a broker outage delays events but
   * never loses them. Delivery is at least once; the inbox makes effects once.
   */
  dispatch(
    trx: TransactionClientContract,
    events: EventEnvelope[],
    handoff?: Handoff
  ): Promise<void>
  /** Starts consuming for the subscribers this process mounts (local: the worker's PostgreSQL loop does). */
  startConsumers?(): Promise<void>
  /** What the broker holds per module queue, for `bus:status`. */
  queueStatus?(): Promise<QueueStatus[]>
  close?(): Promise<void>
}

export interface QueueStatus {
  queue: string
  /** Ready to be taken. */
  waiting: number
  /** Waiting for a retry (delayed jobs, retry TTL queues). */
  delayed: number
  /** Kept after the last attempt (BullMQ failed set, RabbitMQ dead queue). */
  dead: number
}

/**
 * local: subscribers in this process, with one durable delivery row per
 * (event, subscriber) in PostgreSQL, so each subscriber retries on its own and
 * a crash loses nothing. relayBatch does its relay in one statement
 * (relayLocally) that writes the same rows; dispatch writes them within a
 * caller's transaction (a transport that wraps this one).
 */
export const localTransport: Transport = {
  name: 'local' as const,
  async dispatch(trx, events, handoff) {
    let leasable = handoff?.limit ?? 0
    const rows = events.flatMap((event) =>
      subscribersOf(event.type).map((entry) => ({
        event,
        // The tenants' turns at the deliveries (see deliveries.ts' claim).
        tenantId: event.tenantId ?? NO_GROUP,
        subscriber: entry.subscriber,
        leased: consumedHere(entry) && leasable-- > 0,
      }))
    )
    if (rows.length === 0) return
    // A row leased to this pass is due a lease ahead with its attempt counted, as a claim
    // would leave it; the others are due now, for whichever worker consumes them.
    const insert = `INSERT INTO messaging_deliveries (id, event_id, tenant_id, subscriber, attempts, available_at)
         SELECT id, event_id, tenant_id, subscriber, CASE WHEN leased THEN 1 ELSE 0 END,
                CASE WHEN leased THEN now() + make_interval(secs => ?) ELSE now() END
           FROM unnest(?::uuid[], ?::uuid[], ?::uuid[], ?::text[], ?::bool[])
                AS r(id, event_id, tenant_id, subscriber, leased)
         ON CONFLICT (event_id, subscriber) DO NOTHING
         RETURNING id, event_id, subscriber, attempts`
    const bindings = [
      handoff?.leaseSeconds ?? 0,
      rows.map(() => newId()),
      rows.map((row) => row.event.id),
      rows.map((row) => row.tenantId),
      rows.map((row) => row.subscriber),
      rows.map((row) => row.leased),
    ]
    // The relaying pass handles what this process consumes itself, next. Only deliveries for
    // subscribers mounted elsewhere (ATRIUM_MODULES) need another process woken — with the
    // insert, in one round trip. A NOTIFY also makes the commit take PostgreSQL's notify lock,
    // and wakes this process's own listener for nothing.
    // Prepared, as the relay's claim is: one of the statements of every pass under a stream.
    const { rows: written } = rows.every(consumedHere)
      ? await preparedRaw(trx, insert, bindings)
      : await preparedRaw(
          trx,
          // Notified whether or not a row was new (the join keeps the one row of pg_notify).
          `WITH delivered AS (${insert})
           SELECT d.id, d.event_id, d.subscriber, d.attempts
             FROM (SELECT pg_notify(?, ?)) AS notified LEFT JOIN delivered d ON true`,
          [...bindings, DELIVERIES_CHANNEL, RELAYED_HERE]
        )
    if (!handoff) return
    const byId = new Map(events.map((event) => [event.id, event]))
    // Returned are the rows written now: one a crashed relay wrote before is not this pass's
    // lease (ON CONFLICT left it as it was), and is claimed when due.
    for (const row of written as Array<{
      id: string
      event_id: string
      subscriber: string
      attempts: number | null
    }>) {
      // 0: not leased (consumed elsewhere); null: the notify's row when nothing was new.
      if (!row.attempts) continue
      handoff.deliveries.push({
        deliveryId: row.id,
        subscriber: row.subscriber,
        attempts: row.attempts,
        event: byId.get(row.event_id)!,
      })
    }
  },
}

/** Where this process's next relay batch starts in the tenants' turns. */
let lastTenantRelayed = NO_GROUP

/** The due outbox rows a relay takes, tenants in turns (see relayBatch). */
function dueOutbox(batchSize: number) {
  return dueInTurns({
    table: 'messaging_outbox',
    // Platform events have no tenant: they take their turn as the nil UUID (the index's expression).
    group: `coalesce(t.tenant_id, '${NO_GROUP}'::uuid)`,
    due: { sql: 't.dispatched_at IS NULL AND t.available_at <= now()', bindings: [] },
    order: 't.available_at, t.id',
    select:
      't.id, t.type, t.version, t.tenant_id, t.aggregate_id, t.payload, t.occurred_at, t.available_at',
    limit: batchSize,
    after: lastTenantRelayed,
  })
}

/** Claims the due rows and marks them dispatched (a CTE named `marked`; `commit_without_flush` too). */
const MARK_DISPATCHED = `${COMMIT_WITHOUT_FLUSH},
       marked AS (
         UPDATE messaging_outbox o SET dispatched_at = now() FROM due, commit_without_flush
          WHERE o.id = due.id
         RETURNING due.id, due.type, due.version, due.tenant_id, due.aggregate_id, due.payload,
                   due.occurred_at, due.available_at, due.turn
       )`

/**
 * Claims a batch of due outbox rows with FOR UPDATE SKIP LOCKED (relays
 * running at once take disjoint rows) and marks them dispatched, then hands
 * them to the transport, all in one transaction: a crash or a refusing broker
 * before commit leaves them for the next pass. Tenants take turns (`dueInTurns`), so one tenant's burst
 * does not stand between another tenant's event and its subscribers; within
 * a tenant, and so within an aggregate, events keep their order. Returns how
 * many it dispatched; with a `handoff`, the local transport lists there the
 * deliveries it wrote leased to this process (see Handoff).
 *
 * The local transport does all of it in one statement (relayLocally): no
 * transaction to begin and commit around a claim and an insert.
 */
export async function relayBatch(
  transport: Transport = localTransport,
  batchSize = RELAY_BATCH_SIZE,
  handoff?: Handoff
): Promise<number> {
  if (transport === localTransport) return relayLocally(batchSize, handoff)
  // Handed over only once committed: a relay rolled back leased nothing.
  const handed: Handoff | undefined = handoff && { ...handoff, deliveries: [] }
  // BEGIN rides with the claim: an empty pass costs the claim and a COMMIT.
  const relayed = await db.transaction(async (trx) => {
    const due = dueOutbox(batchSize)
    // Claimed and marked dispatched in one statement: if the transport refuses the batch, the
    // transaction rolls back and the marks with it. It commits without waiting for its flush: lost
    // in a database crash, the batch is relayed again, and the inbox keeps its effects once.
    const { rows } = await preparedRaw(
      trx,
      `WITH RECURSIVE ${due.ctes}, ${MARK_DISPATCHED}
       SELECT * FROM marked ORDER BY available_at, id`,
      due.bindings
    )
    if (rows.length === 0) return 0
    lastTenantRelayed = lastTurnServed(
      (rows as Array<{ turn: string }>).map((row) => row.turn),
      lastTenantRelayed
    )
    await transport.dispatch(trx, (rows as OutboxRow[]).map(toEnvelope), handed)
    return rows.length
  }, beginWithFirstStatement())
  if (handoff && handed) handoff.deliveries.push(...handed.deliveries)
  return relayed
}

/**
 * The local transport's relay as one statement, on its own: the claim, the
 * marks, the deliveries (one per event and subscriber, as dispatch writes
 * them, the first `handoff.limit` of those this process consumes leased to
 * it) and, when a subscriber is consumed elsewhere, the NOTIFY. Atomic as the
 * transaction was, and one round trip where the transaction took three
 * (the claim with BEGIN, the insert, COMMIT) — under a stream, two of the
 * six a pass cost (bench:bus). Its commit, like the transaction's, does not
 * wait for the flush.
 */
async function relayLocally(batchSize: number, handoff?: Handoff): Promise<number> {
  const subscriptions = allSubscriptions()
  const due = dueOutbox(batchSize)
  const { rows } = await preparedRaw(
    db.connection(),
    `WITH RECURSIVE ${due.ctes}, ${MARK_DISPATCHED},
     subscribed AS (
       SELECT * FROM unnest(?::text[], ?::text[], ?::bool[]) AS s(type, subscriber, consumed)
     ),
     fanned AS (
       SELECT m.id AS event_id, coalesce(m.tenant_id, '${NO_GROUP}'::uuid) AS tenant_id,
              s.subscriber, s.consumed,
              row_number() OVER (ORDER BY m.available_at, m.id, s.subscriber) - 1 AS place,
              s.consumed AND row_number() OVER (
                PARTITION BY s.consumed ORDER BY m.available_at, m.id, s.subscriber
              ) <= ? AS leased
         FROM marked m JOIN subscribed s ON s.type = m.type
     ),
     delivered AS (
       INSERT INTO messaging_deliveries (id, event_id, tenant_id, subscriber, attempts, available_at)
       SELECT ${sqlNewId('place')}, event_id, tenant_id, subscriber, CASE WHEN leased THEN 1 ELSE 0 END,
              CASE WHEN leased THEN now() + make_interval(secs => ?) ELSE now() END
         FROM fanned
       ON CONFLICT (event_id, subscriber) DO NOTHING
       RETURNING id, event_id, subscriber, attempts
     ),
     notified AS (
       SELECT pg_notify(?, ?) FROM fanned WHERE NOT consumed LIMIT 1
     )
     SELECT m.id, m.type, m.version, m.tenant_id, m.aggregate_id, m.payload, m.occurred_at,
            m.turn, handed.deliveries, (SELECT count(*) FROM notified)::int AS notified
       FROM marked m
       LEFT JOIN (
         SELECT event_id, json_agg(json_build_object('id', id, 'subscriber', subscriber)) AS deliveries
           FROM delivered WHERE attempts > 0 GROUP BY event_id
       ) handed ON handed.event_id = m.id
      ORDER BY m.available_at, m.id`,
    [
      ...due.bindings,
      subscriptions.map((entry) => entry.type),
      subscriptions.map((entry) => entry.subscriber),
      subscriptions.map(consumedHere),
      handoff?.limit ?? 0,
      handoff?.leaseSeconds ?? 0,
      // Only deliveries for subscribers mounted elsewhere wake another process (see dispatch).
      DELIVERIES_CHANNEL,
      RELAYED_HERE,
    ]
  )
  if (rows.length === 0) return 0
  const relayed = rows as Array<
    OutboxRow & { turn: string; deliveries: Array<{ id: string; subscriber: string }> | null }
  >
  lastTenantRelayed = lastTurnServed(
    relayed.map((row) => row.turn),
    lastTenantRelayed
  )
  for (const row of relayed) {
    if (!row.deliveries || !handoff) continue
    const event = toEnvelope(row)
    // Returned are the rows written now: one a crashed relay wrote before is not this pass's
    // lease (ON CONFLICT left it as it was), and is claimed when due.
    for (const delivery of row.deliveries)
      handoff.deliveries.push({
        deliveryId: delivery.id,
        subscriber: delivery.subscriber,
        attempts: 1,
        event,
      })
  }
  return relayed.length
}
