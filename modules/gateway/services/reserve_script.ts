/*
 * The Redis side of the quota reservation, kept free of AdonisJS imports so
 * bench/quota_script.ts can run it against Redis directly.
 */

/** All or nothing in one script: Redis runs it atomically, across every process sharing it. */
export const RESERVE_SCRIPT = `
local used = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[(i - 1) * 3 + 1])
  local amount = tonumber(ARGV[(i - 1) * 3 + 2])
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  used[i] = current
  if current + amount > limit then
    return { i - 1, unpack(used) }
  end
end
for i = 1, #KEYS do
  local amount = tonumber(ARGV[(i - 1) * 3 + 2])
  used[i] = redis.call('INCRBY', KEYS[i], amount)
  redis.call('PEXPIREAT', KEYS[i], tonumber(ARGV[(i - 1) * 3 + 3]))
end
return { -1, unpack(used) }
`

/**
 * Several reservations in one script, in order: each is taken whole or
 * refused whole, and the next one sees the counts it left — exactly what one
 * script call each would have decided. A reservation increments its counters
 * first and takes back what it added when one goes over its limit (Redis runs
 * the script atomically, so nobody sees the counts in between): a reservation
 * that fits — nearly all of them — costs one INCRBY a counter, where reading
 * every counter first and then writing it with its expiry cost three. The
 * expiry is set only on a counter the reservation created (its count is then
 * the amount): a counter's key names its window, so its expiry never moves.
 * ARGV: the number of reservations, each one's counter count, then (limit,
 * amount, expire-at) per counter in KEYS order. The answer is, per
 * reservation, [refused index or -1, each counter's value after (before when
 * refused)], concatenated.
 */
export const RESERVE_MANY_SCRIPT = `
local count = tonumber(ARGV[1])
local answer = {}
local keyAt = 0
local argAt = 1 + count
for r = 1, count do
  local size = tonumber(ARGV[1 + r])
  local used = {}
  local refused = -1
  local added = 0
  for i = 1, size do
    local at = argAt + (i - 1) * 3
    local amount = tonumber(ARGV[at + 2])
    local after = redis.call('INCRBY', KEYS[keyAt + i], amount)
    added = i
    if after == amount then
      redis.call('PEXPIREAT', KEYS[keyAt + i], tonumber(ARGV[at + 3]))
    end
    used[i] = after
    if after > tonumber(ARGV[at + 1]) then
      refused = i - 1
      break
    end
  end
  if refused >= 0 then
    -- Taken back: a counter this reservation created goes away again, as if never touched.
    for i = 1, added do
      local amount = tonumber(ARGV[argAt + (i - 1) * 3 + 2])
      used[i] = used[i] - amount
      if used[i] == 0 then
        redis.call('DEL', KEYS[keyAt + i])
      else
        redis.call('DECRBY', KEYS[keyAt + i], amount)
      end
    end
    for i = added + 1, size do
      used[i] = tonumber(redis.call('GET', KEYS[keyAt + i]) or '0')
    end
  end
  answer[#answer + 1] = refused
  for i = 1, size do
    answer[#answer + 1] = used[i]
  end
  keyAt = keyAt + size
  argAt = argAt + size * 3
end
return answer
`

/**
 * The same decisions for a batch whose reservations share counters — under
 * load, many of one busy key's and its tenant's: each distinct counter is
 * read once, every reservation is decided on those counts in Lua, and each
 * counter that moved is written once. A batch of N reservations of the same
 * 8 counters costs Redis 16 commands, where incrementing first cost 8N
 * (`npm run bench:quota-script`); alone, a reservation costs more this way
 * (16 commands for 8), so `reserveOnRedis` picks by the batch. Nothing is
 * written for a refused reservation, and a counter is created (with its
 * window's expiry) only when a reservation that fits adds to it: a counter's
 * key names its window, so an existing counter's expiry is never touched.
 *
 * Each distinct counter is sent once, not once per reservation: KEYS are the
 * distinct counters; ARGV is the number of reservations, each key's
 * expire-at, then the batch's distinct (key, limit) pairs ("slots": a key's
 * limit can change between two requests of one batch) as the number of them
 * and (key number, limit) each, then per reservation its counter count and
 * (slot number, amount) per counter. The answer is, per reservation,
 * [refused index or -1, each counter's value after (before when refused)],
 * concatenated. Sending every key, limit and expiry again with each
 * reservation made the gateway's command for a batch of 16 about 9 KB; it
 * is now about 1 KB.
 */
export const RESERVE_SHARED_SCRIPT = `
local count = tonumber(ARGV[1])
local keys = #KEYS
local value = {}
local existed = {}
local added = {}
for k = 1, keys do
  local stored = redis.call('GET', KEYS[k])
  existed[k] = stored ~= false
  value[k] = tonumber(stored or '0')
  added[k] = 0
end
local slotsAt = 2 + keys
local slotKey = {}
local slotLimit = {}
for s = 1, tonumber(ARGV[slotsAt]) do
  slotKey[s] = tonumber(ARGV[slotsAt + 2 * s - 1])
  slotLimit[s] = tonumber(ARGV[slotsAt + 2 * s])
end
local at = slotsAt + 2 * #slotKey + 1
local answer = {}
for r = 1, count do
  local size = tonumber(ARGV[at])
  local first = at + 1
  local refused = -1
  local applied = 0
  for i = 1, size do
    local slot = tonumber(ARGV[first + 2 * (i - 1)])
    local k = slotKey[slot]
    value[k] = value[k] + tonumber(ARGV[first + 2 * (i - 1) + 1])
    applied = i
    if value[k] > slotLimit[slot] then
      refused = i - 1
      break
    end
  end
  for i = 1, applied do
    local k = slotKey[tonumber(ARGV[first + 2 * (i - 1)])]
    local amount = tonumber(ARGV[first + 2 * (i - 1) + 1])
    if refused >= 0 then
      value[k] = value[k] - amount
    else
      added[k] = added[k] + amount
    end
  end
  answer[#answer + 1] = refused
  for i = 1, size do
    answer[#answer + 1] = value[slotKey[tonumber(ARGV[first + 2 * (i - 1)])]]
  end
  at = first + 2 * size
end
for k = 1, keys do
  if added[k] ~= 0 then
    if existed[k] then
      redis.call('INCRBY', KEYS[k], added[k])
    else
      redis.call('SET', KEYS[k], value[k], 'PXAT', tonumber(ARGV[1 + k]))
    end
  end
end
return answer
`

/**
 * Settles in one script: each counter moves by its delta (refunding what a
 * reservation over-estimated). A counter that expired since its reservation
 * is made again by the INCRBY (its count is then the delta) and gets its
 * window's expiry back — it would otherwise never expire; the others keep the
 * expiry they have. ARGV: (delta, expire-at) per counter in KEYS order. As a
 * pipeline this was two commands a counter (INCRBY, PEXPIREAT), 13 or so
 * for a request with 8 counters; one command carries a whole batch now.
 */
export const ADJUST_MANY_SCRIPT = `
for i = 1, #KEYS do
  local delta = tonumber(ARGV[(i - 1) * 2 + 1])
  if redis.call('INCRBY', KEYS[i], delta) == delta then
    redis.call('PEXPIREAT', KEYS[i], tonumber(ARGV[(i - 1) * 2 + 2]))
  end
end
return #KEYS
`

type ScriptRunner = (...keysThenArgs: Array<string | number>) => Promise<unknown>
type ScriptHost = {
  defineCommand(name: string, definition: { lua: string }): void
  [command: string]: unknown
}
const RESERVE_COMMAND = 'atriumReserve'
const RESERVE_MANY_COMMAND = 'atriumReserveMany'
const RESERVE_SHARED_COMMAND = 'atriumReserveShared'
const ADJUST_MANY_COMMAND = 'atriumAdjustMany'

/**
 * The reserve script as an ioredis command: sent by its SHA1 (EVALSHA) on every
 * call, the whole Lua text only when Redis does not know it yet (after a
 * restart or SCRIPT FLUSH) — EVAL sent the text with every request. The key
 * count is the first argument, as the number of counters varies.
 */
export function reserveScript(connection: unknown): ScriptRunner {
  const host = connection as ScriptHost
  if (typeof host[RESERVE_COMMAND] !== 'function') {
    host.defineCommand(RESERVE_COMMAND, { lua: RESERVE_SCRIPT })
  }
  return (host[RESERVE_COMMAND] as ScriptRunner).bind(host)
}

/** The batched reserve script as an ioredis command (EVALSHA, as above). */
export function reserveManyScript(connection: unknown): ScriptRunner {
  const host = connection as ScriptHost
  if (typeof host[RESERVE_MANY_COMMAND] !== 'function') {
    host.defineCommand(RESERVE_MANY_COMMAND, { lua: RESERVE_MANY_SCRIPT })
  }
  return (host[RESERVE_MANY_COMMAND] as ScriptRunner).bind(host)
}

/** The batched reserve script for counters the batch shares, as an ioredis command (EVALSHA). */
export function reserveSharedScript(connection: unknown): ScriptRunner {
  const host = connection as ScriptHost
  if (typeof host[RESERVE_SHARED_COMMAND] !== 'function') {
    host.defineCommand(RESERVE_SHARED_COMMAND, { lua: RESERVE_SHARED_SCRIPT })
  }
  return (host[RESERVE_SHARED_COMMAND] as ScriptRunner).bind(host)
}

/**
 * A counter as a reservation script takes it: its key, limit and amount, and
 * the end of its window (it expires `graceMs` after).
 */
export interface ScriptCounter {
  key: string
  limit: number
  amount: number
  windowEndsAt: number
}

type ScriptArguments = Array<string | number>

/** The batch as RESERVE_MANY_SCRIPT takes it: every reservation's counters in turn. */
export function reserveManyArguments(batch: ScriptCounter[][], graceMs: number): ScriptArguments {
  const counters = batch.flat()
  return [
    counters.length,
    ...counters.map((counter) => counter.key),
    batch.length,
    ...batch.map((reservation) => reservation.length),
    ...counters.flatMap((counter) => [
      counter.limit,
      counter.amount,
      counter.windowEndsAt + graceMs,
    ]),
  ]
}

/**
 * The batch as RESERVE_SHARED_SCRIPT takes it: each distinct counter once,
 * referred to by number (see the script); null when no counter repeats, as
 * the increment-first script is then the cheaper one.
 */
export function reserveSharedArguments(
  batch: ScriptCounter[][],
  graceMs: number
): ScriptArguments | null {
  const keyNumbers = new Map<string, number>()
  const keys: string[] = []
  const expiries: number[] = []
  // Per key (by its number), the slots it has: usually one, a second only if its limit changed.
  const slotsOfKey: number[][] = []
  const slotLimits: number[] = []
  const slots: number[] = []
  const reservations: number[] = []
  let counters = 0
  for (const reservation of batch) {
    reservations.push(reservation.length)
    for (const counter of reservation) {
      counters++
      let keyNumber = keyNumbers.get(counter.key)
      if (keyNumber === undefined) {
        keyNumber = keys.push(counter.key)
        keyNumbers.set(counter.key, keyNumber)
        expiries.push(counter.windowEndsAt + graceMs)
        slotsOfKey.push([])
      }
      const own = slotsOfKey[keyNumber - 1]
      let slot = own.find((candidate) => slotLimits[candidate - 1] === counter.limit)
      if (slot === undefined) {
        slot = slotLimits.push(counter.limit)
        slots.push(keyNumber, counter.limit)
        own.push(slot)
      }
      reservations.push(slot, counter.amount)
    }
  }
  if (keys.length === counters) return null
  return [
    keys.length,
    ...keys,
    batch.length,
    ...expiries,
    slotLimits.length,
    ...slots,
    ...reservations,
  ]
}

/**
 * Several reservations in one script call, each taken whole or refused whole
 * in order, with whichever script is cheaper for the batch (read once and
 * write once when a counter repeats in it, increment first otherwise). The
 * answer is, per reservation, [refused index or -1, each counter's value],
 * concatenated.
 */
export async function reserveOnRedis(
  connection: unknown,
  batch: ScriptCounter[][],
  graceMs: number
): Promise<number[]> {
  // One reservation never repeats a counter: no need to look for repeats.
  const shared = batch.length > 1 ? reserveSharedArguments(batch, graceMs) : null
  const answer = shared
    ? await reserveSharedScript(connection)(...shared)
    : await reserveManyScript(connection)(...reserveManyArguments(batch, graceMs))
  return (answer as Array<number | string>).map(Number)
}

/** The batched settle script as an ioredis command (EVALSHA, as above). */
export function adjustManyScript(connection: unknown): ScriptRunner {
  const host = connection as ScriptHost
  if (typeof host[ADJUST_MANY_COMMAND] !== 'function') {
    host.defineCommand(ADJUST_MANY_COMMAND, { lua: ADJUST_MANY_SCRIPT })
  }
  return (host[ADJUST_MANY_COMMAND] as ScriptRunner).bind(host)
}
