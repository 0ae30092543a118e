/*
| The Redis quota reservation, as the gateway sends it: the whole Lua text with
| EVAL on every request (before) versus its SHA1 with EVALSHA (now, ioredis
| defineCommand). Same script, same 8 counters per reservation (a key's and a
| tenant's four limits), same Redis, alternating rounds in one run. Then the
| settle of those 8 counters (5 of them with something to refund): a
| pipeline of INCRBY and PEXPIREAT per counter (before) versus one script.
|
|   npm run bench:quota-script     (BENCH_RESERVES=20000 BENCH_CONCURRENCY=50)
*/
import { Redis } from 'ioredis'
import {
  adjustManyScript,
  RESERVE_SCRIPT,
  reserveScript,
} from '#modules/gateway/services/reserve_script'
import { printTable, writeResults } from './lib/report.js'

const RESERVES = Number(process.env.BENCH_RESERVES ?? 20_000)
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50)
const ROUNDS = 3
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
const prefix = `bench:quota:${process.pid}`
const keys = Array.from({ length: 8 }, (_, index) => `${prefix}:${index}`)
const args = keys.flatMap(() => [Number.MAX_SAFE_INTEGER, 1, Date.now() + 3_600_000])

const expireAt = Date.now() + 3_600_000
/** A settle's changes: the request counters were exact, the token and spend ones refund. */
const deltas = keys.map((key, index) => ({ key, delta: index % 4 === 0 ? 0 : -1 }))
const refunds = deltas.filter((change) => change.delta !== 0)

type Variant =
  'eval (before)' | 'evalsha (now)' | 'settle: pipeline (before)' | 'settle: script (now)'
const send: Record<Variant, () => Promise<unknown>> = {
  'eval (before)': () => redis.eval(RESERVE_SCRIPT, keys.length, ...keys, ...args),
  'evalsha (now)': () => reserveScript(redis)(keys.length, ...keys, ...args),
  'settle: pipeline (before)': () => {
    const pipeline = redis.pipeline()
    for (const change of deltas) {
      if (change.delta !== 0) pipeline.incrby(change.key, change.delta)
      pipeline.pexpireat(change.key, expireAt)
    }
    return pipeline.exec()
  },
  'settle: script (now)': () =>
    adjustManyScript(redis)(
      refunds.length,
      ...refunds.map((change) => change.key),
      ...refunds.flatMap((change) => [change.delta, expireAt])
    ),
}

async function measure(variant: Variant) {
  const latencies: number[] = []
  let next = 0
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < RESERVES) {
        const begun = performance.now()
        await send[variant]()
        latencies.push(performance.now() - begun)
      }
    })
  )
  const seconds = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpuBefore)
  latencies.sort((a, b) => a - b)
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]
  // This process's CPU per reservation: what the gateway spends encoding and sending it.
  return {
    perSecond: RESERVES / seconds,
    p50: at(0.5),
    p99: at(0.99),
    cpuMicros: (cpu.user + cpu.system) / RESERVES,
  }
}

const results: Record<Variant, Array<Awaited<ReturnType<typeof measure>>>> = {
  'eval (before)': [],
  'evalsha (now)': [],
  'settle: pipeline (before)': [],
  'settle: script (now)': [],
}
try {
  await send['evalsha (now)']()
  await send['settle: script (now)']()
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of Object.keys(send) as Variant[])
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
        },
      ]
    })
  )
  printTable(
    ['variant', 'calls/s', 'p50 ms', 'p99 ms', 'client CPU µs/call'],
    Object.entries(summary).map(([variant, row]) => [
      variant,
      Math.round(row.perSecond),
      row.p50Ms.toFixed(2),
      row.p99Ms.toFixed(2),
      row.cpuMicrosPerReserve.toFixed(1),
    ])
  )
  const ratio = summary['evalsha (now)'].perSecond / summary['eval (before)'].perSecond
  console.log(`evalsha ÷ eval: ${ratio.toFixed(2)}`)
  const settleRatio =
    summary['settle: script (now)'].perSecond / summary['settle: pipeline (before)'].perSecond
  console.log(`settle, script ÷ pipeline: ${settleRatio.toFixed(2)}`)
  const file = await writeResults('quota_script', {
    reserves: RESERVES,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    counters: keys.length,
    scriptBytes: Buffer.byteLength(RESERVE_SCRIPT),
    summary,
    ratio,
    settleRatio,
  })
  console.log(`wrote ${file}`)
} finally {
  await redis.del(...keys)
  redis.disconnect()
}
