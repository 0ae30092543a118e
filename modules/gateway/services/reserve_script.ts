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
 * (`npm run bench:quota-script`: 10.8 → 7.3 µs of Redis CPU a reservation in
 * batches of 16); alone, a reservation costs more this way (16 commands for
 * 8), so `reserveBatchScript` picks by the batch. Nothing is written for a refused
 * reservation, and a counter is created (with its window's expiry) only when
 * a reservation that fits adds to it: a counter's key names its window, so
 * an existing counter's expiry is never touched. ARGV: the number of
 * reservations, each one's counter count, then (limit, amount, expire-at)
 * per counter in KEYS order. The answer is, per reservation, [refused index
 * or -1, each counter's value after (before when refused)], concatenated.
 */
export const RESERVE_SHARED_SCRIPT = `
local count = tonumber(ARGV[1])
local answer = {}
local value = {}
local existed = {}
local added = {}
local expireAt = {}
local moved = {}
local keyAt = 0
local argAt = 1 + count
for r = 1, count do
  local size = tonumber(ARGV[1 + r])
  local refused = -1
  local applied = 0
  for i = 1, size do
    local key = KEYS[keyAt + i]
    if value[key] == nil then
      local stored = redis.call('GET', key)
      existed[key] = stored ~= false
      value[key] = tonumber(stored or '0')
    end
  end
  for i = 1, size do
    local key = KEYS[keyAt + i]
    local at = argAt + (i - 1) * 3
    value[key] = value[key] + tonumber(ARGV[at + 2])
    applied = i
    if value[key] > tonumber(ARGV[at + 1]) then
      refused = i - 1
      break
    end
  end
  for i = 1, applied do
    local key = KEYS[keyAt + i]
    local at = argAt + (i - 1) * 3
    local amount = tonumber(ARGV[at + 2])
    if refused >= 0 then
      value[key] = value[key] - amount
    elseif amount ~= 0 then
      if added[key] == nil then
        added[key] = 0
        expireAt[key] = tonumber(ARGV[at + 3])
        moved[#moved + 1] = key
      end
      added[key] = added[key] + amount
    end
  end
  answer[#answer + 1] = refused
  for i = 1, size do
    answer[#answer + 1] = value[KEYS[keyAt + i]]
  end
  keyAt = keyAt + size
  argAt = argAt + size * 3
end
for _, key in ipairs(moved) do
  if added[key] ~= 0 then
    if existed[key] then
      redis.call('INCRBY', key, added[key])
    else
      redis.call('SET', key, value[key], 'PXAT', expireAt[key])
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
 * The cheaper script for a batch of reservations (both decide alike): read
 * once, write once when a counter appears more than once in it, increment
 * first otherwise.
 */
export function reserveBatchScript(connection: unknown, keys: string[]): ScriptRunner {
  return new Set(keys).size < keys.length
    ? reserveSharedScript(connection)
    : reserveManyScript(connection)
}

/** The batched settle script as an ioredis command (EVALSHA, as above). */
export function adjustManyScript(connection: unknown): ScriptRunner {
  const host = connection as ScriptHost
  if (typeof host[ADJUST_MANY_COMMAND] !== 'function') {
    host.defineCommand(ADJUST_MANY_COMMAND, { lua: ADJUST_MANY_SCRIPT })
  }
  return (host[ADJUST_MANY_COMMAND] as ScriptRunner).bind(host)
}
