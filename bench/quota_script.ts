/*
| The Redis quota scripts, as the gateway sends them, side by side on one
| Redis in alternating rounds: 8 counters per reservation (a key's and a
| tenant's four limits) and a settle of those 8 (5 with something to refund).
|
| reserve: the whole Lua text with EVAL on every request (first) versus its
|   SHA1 with EVALSHA (ioredis defineCommand); then the batched script as it
|   was — every counter read, then written with its expiry: three commands a
|   counter — versus now: incremented first and taken back on a refusal, the
|   expiry set only on a counter it creates: one command a counter.
|   Then, as a busy key's batch holds many reservations of the same counters,
|   16 of them in one call: one INCRBY a counter each (before) versus each
|   counter read once and written once (now; used when a counter repeats in
|   the batch — alone, a reservation is cheaper incremented first); and that
|   script as it was, every reservation sending its counters' keys, limits and
|   expiries again, versus each distinct counter sent once (now).
| settle: a pipeline of INCRBY and PEXPIREAT per counter (first) versus one
|   script, as it was (the expiry set again each time) and now (only on a
|   counter that expired since its reservation); 16 settles in one call, each
|   change sent (before) versus summed per counter (now).
|
| Redis shares the machine's two cores with the gateway, so what each call
| costs Redis itself (`INFO cpu`, per call) is a column beside the client's.
|
|   npm run bench:quota-script     (BENCH_RESERVES=20000 BENCH_CONCURRENCY=50)
*/
import { Redis } from 'ioredis'
import {
  ADJUST_MANY_SCRIPT,
  RESERVE_MANY_SCRIPT,
  RESERVE_SHARED_SCRIPT,
  RESERVE_SCRIPT,
  reserveManyArguments,
  reserveScript,
  reserveSharedArguments,
  type ScriptCounter,
} from '#modules/gateway/services/reserve_script'
import { printTable, writeResults } from './lib/report.js'

const RESERVES = Number(process.env.BENCH_RESERVES ?? 20_000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50)
const ROUNDS = 3
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const prefix = `bench:quota:${process.pid}`
const keys = Array.from({ length: 8 }, (_, index) => `${prefix}:${index}`)
const expireAt = Date.now() + 3_600_000
const args = keys.flatMap(() => [Number.MAX_SAFE_INTEGER, 1, expireAt])

/** The batched reserve script before it incremented first (kept here as the baseline). */
const RESERVE_MANY_BEFORE = `
local count = tonumber(ARGV[1])
local answer = {}
local keyAt = 0
local argAt = 1 + count
for r = 1, count do
  local size = tonumber(ARGV[1 + r])
  local used = {}
  local refused = -1
  for i = 1, size do
    local at = argAt + (i - 1) * 3
    local current = tonumber(redis.call('GET', KEYS[keyAt + i]) or '0')
    used[i] = current
    if refused < 0 and current + tonumber(ARGV[at + 2]) > tonumber(ARGV[at + 1]) then
      refused = i - 1
    end
  end
  if refused < 0 then
    for i = 1, size do
      local at = argAt + (i - 1) * 3
      used[i] = redis.call('INCRBY', KEYS[keyAt + i], tonumber(ARGV[at + 2]))
      redis.call('PEXPIREAT', KEYS[keyAt + i], tonumber(ARGV[at + 3]))
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
 * The shared-counter script before each distinct counter was sent once: every
 * reservation sent its counters' keys, limits and expiries again.
 */
const RESERVE_SHARED_BEFORE = `
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
/** The settle script before it set the expiry only on a counter it made again. */
const ADJUST_MANY_BEFORE = `
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], tonumber(ARGV[(i - 1) * 2 + 1]))
  redis.call('PEXPIREAT', KEYS[i], tonumber(ARGV[(i - 1) * 2 + 2]))
end
return #KEYS
`
redis.defineCommand('reserveManyBefore', { lua: RESERVE_MANY_BEFORE })
redis.defineCommand('reserveManyNow', { lua: RESERVE_MANY_SCRIPT })
redis.defineCommand('reserveSharedBefore', { lua: RESERVE_SHARED_BEFORE })
redis.defineCommand('reserveShared', { lua: RESERVE_SHARED_SCRIPT })
redis.defineCommand('adjustManyBefore', { lua: ADJUST_MANY_BEFORE })
redis.defineCommand('adjustManyNow', { lua: ADJUST_MANY_SCRIPT })
type Script = (...keysThenArgs: Array<string | number>) => Promise<unknown>
const command = (name: string) => (redis as unknown as Record<string, Script>)[name].bind(redis)

/** A settle's changes: the request counters were exact, the token and spend ones refund. */
const deltas = keys.map((key, index) => ({ key, delta: index % 4 === 0 ? 0 : -1 }))
const refunds = deltas.filter((change) => change.delta !== 0)
/** `count` reservations of the 8 counters (built per call, as the gateway does). */
const batchOf = (count: number): ScriptCounter[][] =>
  Array.from({ length: count }, () =>
    keys.map((key) => ({ key, limit: Number.MAX_SAFE_INTEGER, amount: 1, windowEndsAt: expireAt }))
  )
/** `count` reservations with every counter sent each time, as the increment-first script takes them. */
const reserveMany = (script: string, count = 1) =>
  command(script)(...reserveManyArguments(batchOf(count), 0))
/** `count` reservations with each distinct counter sent once (the shared script, now). */
const reserveShared = (count: number) =>
  command('reserveShared')(...reserveSharedArguments(batchOf(count), 0)!)
/** `count` settles of those counters: each change sent, or summed per counter first (quotas.ts). */
const adjustMany = (script: string, count = 1, summed = false) => {
  const changes = summed
    ? refunds.map((change) => ({ ...change, delta: change.delta * count }))
    : Array.from({ length: count }, () => refunds).flat()
  return command(script)(
    changes.length,
    ...changes.map((change) => change.key),
    ...changes.flatMap((change) => [change.delta, expireAt])
  )
}
/** Reservations (and settles) per call in the batched rows. */
const BATCH = 16

const variants = {
  'reserve: eval (first)': () => redis.eval(RESERVE_SCRIPT, keys.length, ...keys, ...args),
  'reserve: evalsha': () => reserveScript(redis)(keys.length, ...keys, ...args),
  'reserve many: read, then write (first)': () => reserveMany('reserveManyBefore'),
  'reserve many: increment first (now, when no counter repeats)': () =>
    reserveMany('reserveManyNow'),
  'reserve many: read once, write once (not used alone)': () => reserveMany('reserveSharedBefore'),
  [`reserve ×${BATCH} in one call: increment first (before)`]: () =>
    reserveMany('reserveManyNow', BATCH),
  [`reserve ×${BATCH} in one call: read once, write once, every counter sent each time (before)`]:
    () => reserveMany('reserveSharedBefore', BATCH),
  [`reserve ×${BATCH} in one call: read once, write once, each counter sent once (now)`]: () =>
    reserveShared(BATCH),
  'settle: pipeline (first)': () => {
    const pipeline = redis.pipeline()
    for (const change of deltas) {
      if (change.delta !== 0) pipeline.incrby(change.key, change.delta)
      pipeline.pexpireat(change.key, expireAt)
    }
    return pipeline.exec()
  },
  'settle: script, expiry every time (before)': () => adjustMany('adjustManyBefore'),
  'settle: script, expiry on creation (now)': () => adjustMany('adjustManyNow'),
  [`settle ×${BATCH} in one call: each change sent (before)`]: () =>
    adjustMany('adjustManyNow', BATCH),
  [`settle ×${BATCH} in one call: summed per counter (now)`]: () =>
    adjustMany('adjustManyNow', BATCH, true),
}
type Variant = keyof typeof variants

/** Redis's own CPU so far, in microseconds (user and system, all its threads). */
async function redisCpuMicros() {
  const info = await redis.info('cpu')
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6
}

async function measure(variant: Variant) {
  const latencies: number[] = []
  let next = 0
  const redisBefore = await redisCpuMicros()
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < RESERVES) {
        const begun = performance.now()
        await variants[variant]()
        latencies.push(performance.now() - begun)
      }
    })
  )
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  // The INFO call itself costs Redis a few microseconds, once per run of thousands of calls.
  const redisMicros = (await redisCpuMicros()) - redisBefore
  latencies.sort((a, b) => a - b)
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  return {
    perSecond: RESERVES / seconds,
    p50: at(0.5),
    p99: at(0.99),
    // This process's CPU per call: what the gateway spends encoding and sending it.
    cpuMicros: (cpu.user + cpu.system) / RESERVES,
    redisCpuMicros: redisMicros / RESERVES,
  }
}

const results = Object.fromEntries(
  Object.keys(variants).map((variant) => [
    variant,
    [] as Array<Awaited<ReturnType<typeof measure>>>,
  ])
) as Record<Variant, Array<Awaited<ReturnType<typeof measure>>>>
try {
  for (const variant of Object.keys(variants) as Variant[]) await variants[variant]()
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of Object.keys(variants) as Variant[])
      results[variant].push(await measure(variant))
  }
  const summary = Object.fromEntries(
    (Object.keys(results) as Variant[]).map((variant) => {
      const runs = results[variant]
      const mean = (pick: (run: (typeof runs)[number]) => number) =>
        runs.reduce((sum, run) => sum + pick(run), 0) / runs.length
      return [
        variant,
        {
          perSecond: mean((r) => r.perSecond),
          p50Ms: mean((r) => r.p50),
          p99Ms: mean((r) => r.p99),
          cpuMicrosPerReserve: mean((r) => r.cpuMicros),
          redisCpuMicrosPerCall: mean((r) => r.redisCpuMicros),
        },
      ]
    })
  ) as Record<
    Variant,
    {
      perSecond: number
      p50Ms: number
      p99Ms: number
      cpuMicrosPerReserve: number
      redisCpuMicrosPerCall: number
    }
  >
  printTable(
    ['variant', 'calls/s', 'p50 ms', 'p99 ms', 'client CPU µs/call', 'Redis CPU µs/call'],
    Object.entries(summary).map(([variant, row]) => [
      variant,
      Math.round(row.perSecond),
      row.p50Ms.toFixed(2),
      row.p99Ms.toFixed(2),
      row.cpuMicrosPerReserve.toFixed(1),
      row.redisCpuMicrosPerCall.toFixed(1),
    ])
  )
  const ratio = summary['reserve: evalsha'].perSecond / summary['reserve: eval (first)'].perSecond
  console.log(`evalsha ÷ eval: ${ratio.toFixed(2)}`)
  const settleRatio =
    summary['settle: script, expiry every time (before)'].perSecond /
    summary['settle: pipeline (first)'].perSecond
  console.log(`settle, script ÷ pipeline: ${settleRatio.toFixed(2)}`)
  const redisPerRequest = (reserve: Variant, settle: Variant) =>
    summary[reserve].redisCpuMicrosPerCall + summary[settle].redisCpuMicrosPerCall
  const redisFirst = redisPerRequest(
    'reserve many: read, then write (first)',
    'settle: script, expiry every time (before)'
  )
  const redisNow = redisPerRequest(
    'reserve many: increment first (now, when no counter repeats)',
    'settle: script, expiry on creation (now)'
  )
  console.log(
    `Redis CPU per gateway request (reserve + settle), one per call: ${redisFirst.toFixed(1)} → ${redisNow.toFixed(1)} µs`
  )
  const batchedBefore =
    redisPerRequest(
      `reserve ×${BATCH} in one call: increment first (before)`,
      `settle ×${BATCH} in one call: each change sent (before)`
    ) / BATCH
  const batchedNow =
    redisPerRequest(
      `reserve ×${BATCH} in one call: read once, write once, each counter sent once (now)`,
      `settle ×${BATCH} in one call: summed per counter (now)`
    ) / BATCH
  console.log(
    `Redis CPU per gateway request, ${BATCH} to a call (a busy key under load): ${batchedBefore.toFixed(1)} → ${batchedNow.toFixed(1)} µs`
  )
  const sharedClient = (variant: Variant) => summary[variant].cpuMicrosPerReserve / BATCH
  const sentEachTime = sharedClient(
    `reserve ×${BATCH} in one call: read once, write once, every counter sent each time (before)`
  )
  const sentOnce = sharedClient(
    `reserve ×${BATCH} in one call: read once, write once, each counter sent once (now)`
  )
  console.log(
    `Client CPU per reservation, ${BATCH} to a call: every counter sent each time ${sentEachTime.toFixed(1)} → each counter sent once ${sentOnce.toFixed(1)} µs`
  )
  const file = await writeResults('quota_script', {
    reserves: RESERVES,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    counters: keys.length,
    scriptBytes: Buffer.byteLength(RESERVE_SCRIPT),
    summary,
    ratio,
    settleRatio,
    redisCpuMicrosPerRequest: { before: redisFirst, now: redisNow },
    batch: BATCH,
    redisCpuMicrosPerBatchedRequest: { before: batchedBefore, now: batchedNow },
    clientCpuMicrosPerBatchedReservation: { before: sentEachTime, now: sentOnce },
  })
  console.log(`wrote ${file}`)
} finally {
  await redis.del(...keys)
  redis.disconnect()
}
