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

type ScriptRunner = (...keysThenArgs: Array<string | number>) => Promise<unknown>
type ScriptHost = {
  defineCommand(name: string, definition: { lua: string }): void
  [command: string]: unknown
}
const RESERVE_COMMAND = 'atriumReserve'

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
