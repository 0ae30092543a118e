/*
| What a request's awaited work leaves the garbage collector, side by side in
| one run: the same paced work (BENCH_RATE a second, as a gateway at a steady
| rate serves it) inside an AsyncLocalStorage store holding a request-sized
| object graph — as AdonisJS keeps each request's HttpContext — awaiting one
| pooled query, the same query in a Lucid transaction, in a tenant unit of
| work (tenancy.run), an upstream call (undici's request() to a local
| server), a Redis SET and GET; and, for the mechanism alone, one pooled
| query with a closure over the request assigned straight to a property
| (`holder.call = () => request`) against the same closure through a local.
| For each: V8's GC profiler over the round — scavenges a second, their
| pause, and what each promoted to the old generation. A finished request
| should be garbage at the next scavenge; V8 allocates a function literal
| assigned to a property in the old generation, and a dead one there keeps
| its request alive through scavenges, which promote it (patches/README.md,
| docs/architecture.md).
|
|   DATABASE_URL=… REDIS_URL=… npm run bench:uow-gc   (BENCH_RATE=200, BENCH_DURATION=10 s, BENCH_ROUNDS=2)
*/
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { bootInProcess } from './lib/in_process_app.js'
import { medianRun, printTable, writeResults } from './lib/report.js'
import { summariseGc, type GcSummary } from './lib/gc_summary.mjs'

const RATE = Number(process.env.BENCH_RATE ?? 200)
const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)

// The heap settings the server runs with (npm start adds --max-semi-space-size=32, as this script does).
const { tuneV8ForServing } = await import('#app/platform/v8_tuning')
tuneV8ForServing()
const app = await bootInProcess()
const { default: db } = await import('@adonisjs/lucid/services/db')
const { tenancy } = await import('#app/tenancy/tenancy')
const { default: redis } = await import('@adonisjs/redis/services/main')

// The upstream: answers every call at once with a small chat completion.
const upstream = createServer((_request, response) => {
  response.setHeader('content-type', 'application/json')
  response.end('{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"hi"}}]}')
})
await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1/chat/completions`

/** Stands in for a request's HttpContext: ~16 KiB of small objects, new for every call. */
const requestStore = new AsyncLocalStorage<object>()
const requestGraph = () => ({
  headers: Array.from({ length: 64 }, (_, index) => ({ name: `h${index}`, value: randomUUID() })),
  body: { messages: Array.from({ length: 32 }, () => ({ role: 'user', content: randomUUID() })) },
})

const tenantId = randomUUID()
const redisKey = `bench:uow-gc:${randomUUID()}`
interface Holder {
  call?: () => object | undefined
}
const variants: Array<{ name: string; work: () => Promise<unknown> }> = [
  { name: 'one pooled query', work: () => db.rawQuery('SELECT 1') },
  { name: 'Lucid transaction', work: () => db.transaction((trx) => trx.rawQuery('SELECT 1')) },
  { name: 'tenancy.run', work: () => tenancy.run(tenantId, (trx) => trx.rawQuery('SELECT 1')) },
  {
    name: 'upstream call (undici)',
    work: async () => {
      const { body } = await request(upstreamUrl, { method: 'POST', body: '{}' })
      return body.json()
    },
  },
  {
    name: 'Redis SET + GET',
    work: async () => {
      await redis.set(redisKey, '1')
      return redis.get(redisKey)
    },
  },
  {
    name: 'query, closure assigned to a property',
    work: async () => {
      const current = requestStore.getStore()
      const holder: Holder = {}
      holder.call = () => current
      await db.rawQuery('SELECT 1')
      return holder.call()
    },
  },
  {
    name: 'query, same closure through a local',
    work: async () => {
      const current = requestStore.getStore()
      const holder: Holder = {}
      const call = () => current
      holder.call = call
      await db.rawQuery('SELECT 1')
      return holder.call()
    },
  },
]

// A full collection before each round: dead old objects a variant leaves (the closures this
// bench is about) would otherwise keep the next variant's first requests alive too.
v8.setFlagsFromString('--expose-gc')
const collectFully = runInNewContext('gc') as () => void

/** Calls `work` RATE times a second for `seconds`, each in its own request store; returns GC figures. */
async function paced(work: () => Promise<unknown>, seconds: number): Promise<GcSummary> {
  collectFully()
  const profiler = new v8.GCProfiler()
  profiler.start()
  // Only calls still running are held, so a finished one is garbage as a finished request is.
  const inFlight = new Set<Promise<unknown>>()
  const begun = performance.now()
  for (let index = 0; index < RATE * seconds; index++) {
    const wait = begun + (index * 1000) / RATE - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    const call = requestStore.run(requestGraph(), work).finally(() => inFlight.delete(call))
    inFlight.add(call)
  }
  await Promise.all(inFlight)
  return summariseGc(profiler.stop())
}

const results = new Map<string, GcSummary[]>()
try {
  for (const variant of variants) await paced(variant.work, 2)
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of variants) {
      const summary = await paced(variant.work, DURATION)
      results.set(variant.name, [...(results.get(variant.name) ?? []), summary])
    }
  }
} finally {
  await redis.del(redisKey)
  upstream.close()
  await app.stop()
}

// Each row is its median round by what it promoted (the figure this bench is about), every round beside it.
const rows = variants.map(({ name }) => {
  const run = medianRun(results.get(name)!, (each) => each.promotedKiBPerScavenge)
  return {
    name,
    scavengesPerSecond: run.scavengesPerSecond,
    msPerScavenge: run.msPerScavenge,
    promotedKiBPerScavenge: run.promotedKiBPerScavenge,
    promotedKiBByRound: run.rounds.join(' / '),
    gcPauseMsPerSecond: run.gcPauseMsPerSecond,
  }
})
printTable(
  ['unit of work', 'scavenges/s', 'ms/scavenge', 'promoted KiB/scavenge', 'by round', 'GC ms/s'],
  rows.map((row) => [
    row.name,
    row.scavengesPerSecond,
    row.msPerScavenge,
    row.promotedKiBPerScavenge,
    row.promotedKiBByRound,
    row.gcPauseMsPerSecond,
  ])
)
await writeResults('unit_of_work_gc', {
  date: new Date().toISOString(),
  node: process.version,
  rate: RATE,
  seconds: DURATION,
  rounds: ROUNDS,
  rows,
})
