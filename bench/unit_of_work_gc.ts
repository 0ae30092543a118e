/*
| What a unit of work leaves the garbage collector, side by side in one run:
| the same paced work (BENCH_RATE a second, as a gateway at a steady rate
| serves it) inside an AsyncLocalStorage store holding a request-sized object
| graph — as AdonisJS keeps each request's HttpContext — awaiting (a) one
| pooled query, (b) the same query in a Lucid transaction, (c) in a tenant
| unit of work (tenancy.run: BEGIN and settings with the first statement).
| For each: V8's GC profiler over the round — scavenges a second, their
| pause, and what each promoted to the old generation. A request that is
| finished should be garbage at the next scavenge: whatever a variant
| promotes beyond (a) is requests kept alive by something its transaction
| left behind (notes in docs/architecture.md).
|
|   DATABASE_URL=… npm run bench:uow-gc   (BENCH_RATE=200, BENCH_DURATION=10 s, BENCH_ROUNDS=2)
*/
import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import v8 from 'node:v8'
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

/** Stands in for a request's HttpContext: ~16 KiB of small objects, new for every call. */
const requestStore = new AsyncLocalStorage<object>()
const requestGraph = () => ({
  headers: Array.from({ length: 64 }, (_, index) => ({ name: `h${index}`, value: randomUUID() })),
  body: { messages: Array.from({ length: 32 }, () => ({ role: 'user', content: randomUUID() })) },
})

const tenantId = randomUUID()
const variants: Array<{ name: string; work: () => Promise<unknown> }> = [
  { name: 'one pooled query', work: () => db.rawQuery('SELECT 1') },
  { name: 'Lucid transaction', work: () => db.transaction((trx) => trx.rawQuery('SELECT 1')) },
  { name: 'tenancy.run', work: () => tenancy.run(tenantId, (trx) => trx.rawQuery('SELECT 1')) },
]

/** Calls `work` RATE times a second for `seconds`, each in its own request store; returns GC figures. */
async function paced(work: () => Promise<unknown>, seconds: number): Promise<GcSummary> {
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
