/*
| Garbage collection under gateway load, V8's allocation-site pretenuring
| (its default) against Atrium's setting (off, app/platform/v8_tuning.ts),
| side by side: the built server (Redis quota store when REDIS_URL is set)
| carries 12 s of /v1/chat/completions at 64 connections unmeasured, then
| 10 s more measured, then 10 s of GET /system/ping — the cheapest route, in
| the state a busy gateway leaves the process in — then 10 s of /v1 again at
| a fixed BENCH_RATE (200) a second, paced (bench/lib/paced_load.ts), where
| a p99 is decided by the scavenges a request meets. For each: requests per
| second, p99, the server's CPU per request (all its threads, from /proc)
| and what V8's GC profiler saw (bench/lib/gc_stats.mjs): scavenges a
| second, their pause, what each promoted to the old generation, full
| collections a second and the total pause. Alternating processes, so
| drift on this shared machine hits both alike.
|
|   npm run build && BENCH_BUILD=1 REDIS_URL=… npm run bench:gc   (BENCH_ROUNDS=2)
*/
import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import autocannon from 'autocannon'
import {
  APP_ROOT,
  cpuMs,
  spawnNode,
  startAtriumServer,
  stop,
  waitUntilOk,
} from './lib/processes.js'
import { gatewayBenchKey } from './lib/gateway_key.js'
import { printTable, writeResults } from './lib/report.js'
import { pacedLoad, pacedRow } from './lib/paced_load.js'
import type { GcSummary } from './lib/gc_summary.mjs'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const WARMUP = Number(process.env.BENCH_FIRST_WARMUP ?? 12)
const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const FIXED_RATE = Number(process.env.BENCH_RATE ?? 200)
const CONNECTIONS = 64
const UPSTREAM_PORT = 3441
const PORT = 3442
const base = `http://127.0.0.1:${PORT}`
const gcStatsPreload = `--import=${pathToFileURL(join(APP_ROOT, 'bench/lib/gc_stats.mjs')).href}`

const ROUTE_NAMES = {
  v1: '/v1/chat/completions',
  ping: '/system/ping',
  v1Paced: `/v1 at ${FIXED_RATE} req/s (paced)`,
}

const variants = [
  // The operator's flag wins over Atrium's start-up setting (v8_tuning.ts), which puts V8's default back.
  { name: "V8's pretenuring (default)", nodeArgs: ['--allocation-site-pretenuring'] },
  { name: 'pretenuring off (Atrium)', nodeArgs: [] as string[] },
]

interface Measured {
  requestsPerSecond: number
  p99: number
  non2xx: number
  cpuMicrosPerRequest: number
  gc: GcSummary
}

/** What a load run reports, whichever client drove it. */
interface LoadRun {
  requestsPerSecond: number
  requests: number
  p99: number
  non2xx: number
}

/** Runs `load` with the server's GC profiler and CPU clock around it. */
async function measure(pid: number, statsFile: string, load: () => Promise<LoadRun>) {
  process.kill(pid, 'SIGUSR2')
  const cpuBefore = await cpuMs(pid)
  const loaded = await load()
  const cpuAfter = await cpuMs(pid)
  process.kill(pid, 'SIGUSR2')
  const gc = await readStats(statsFile)
  await rm(statsFile, { force: true })
  return {
    requestsPerSecond: loaded.requestsPerSecond,
    p99: loaded.p99,
    non2xx: loaded.non2xx,
    cpuMicrosPerRequest: Math.round(((cpuAfter - cpuBefore) * 1000) / loaded.requests),
    gc,
  } satisfies Measured
}

/** Saturating load: autocannon at CONNECTIONS connections for DURATION seconds. */
async function saturating(options: autocannon.Options): Promise<LoadRun> {
  const result = await autocannon({ ...options, connections: CONNECTIONS, duration: DURATION })
  return {
    requestsPerSecond: Math.round(result.requests.average),
    requests: result.requests.total,
    p99: result.latency.p99,
    non2xx: result.non2xx + result.errors,
  }
}

/** The preload writes the file when it handles the second signal. */
async function readStats(file: string): Promise<GcSummary> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as GcSummary
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  throw new Error(`no GC statistics in ${file}`)
}

async function run(nodeArgs: string[]) {
  const statsFile = join(tmpdir(), `atrium-bench-gc-${process.pid}-${Date.now()}.json`)
  const server = startAtriumServer(
    PORT,
    { ATRIUM_ROLE: 'web', REDIS_URL: process.env.REDIS_URL, BENCH_GC_STATS: statsFile },
    [...nodeArgs, gcStatsPreload]
  )
  try {
    await waitUntilOk(`${base}/health/ready`, performance.now())
    const key = await gatewayBenchKey(base, UPSTREAM_PORT, {
      email: 'gc.bench@example.com',
      tenantName: 'GC Co',
      prefix: 'gc',
    })
    const gateway: autocannon.Options = {
      url: `${base}/v1/chat/completions`,
      method: 'POST',
      headers: { 'authorization': `Bearer ${key.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: key.alias,
        messages: [{ role: 'user', content: 'ping' }],
        max_tokens: 16,
      }),
    }
    await autocannon({ ...gateway, connections: CONNECTIONS, duration: WARMUP })
    const v1 = await measure(server.pid!, statsFile, () => saturating(gateway))
    const ping = await measure(server.pid!, statsFile, () =>
      saturating({ url: `${base}/api/v1/system/ping` })
    )
    const v1Paced = await measure(server.pid!, statsFile, async () => {
      const samples = await pacedLoad({
        url: gateway.url as string,
        headers: { authorization: `Bearer ${key.secret}` },
        body: gateway.body as string,
        rate: FIXED_RATE,
        seconds: DURATION,
      })
      const row = pacedRow('/v1 paced', [samples])
      return {
        requestsPerSecond: row.requestsPerSecond,
        requests: row.samples,
        p99: row.p99,
        non2xx: row.non2xx + row.errors,
      }
    })
    return { v1, ping, v1Paced }
  } finally {
    await stop(server, 'SIGINT')
    await rm(statsFile, { force: true })
  }
}

function mean(samples: Measured[]): Measured {
  const average = (pick: (sample: Measured) => number) =>
    Math.round((samples.reduce((sum, sample) => sum + pick(sample), 0) / samples.length) * 100) /
    100
  return {
    requestsPerSecond: Math.round(average((sample) => sample.requestsPerSecond)),
    p99: average((sample) => sample.p99),
    non2xx: samples.reduce((sum, sample) => sum + sample.non2xx, 0),
    cpuMicrosPerRequest: Math.round(average((sample) => sample.cpuMicrosPerRequest)),
    gc: {
      seconds: average((sample) => sample.gc.seconds),
      scavengesPerSecond: average((sample) => sample.gc.scavengesPerSecond),
      msPerScavenge: average((sample) => sample.gc.msPerScavenge),
      promotedKiBPerScavenge: Math.round(average((sample) => sample.gc.promotedKiBPerScavenge)),
      survivedKiBPerScavenge: Math.round(average((sample) => sample.gc.survivedKiBPerScavenge)),
      fullCollectionsPerSecond: average((sample) => sample.gc.fullCollectionsPerSecond),
      gcPauseMsPerSecond: average((sample) => sample.gc.gcPauseMsPerSecond),
    },
  }
}

const upstream = spawnNode(['bench/lib/fake_llm.mjs'], { PORT: String(UPSTREAM_PORT) })
try {
  const samples = new Map<string, Array<{ v1: Measured; ping: Measured; v1Paced: Measured }>>()
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of variants) {
      samples.set(variant.name, [...(samples.get(variant.name) ?? []), await run(variant.nodeArgs)])
    }
  }
  const results = variants.map((variant) => {
    const list = samples.get(variant.name)!
    return {
      name: variant.name,
      nodeArgs: variant.nodeArgs,
      v1: mean(list.map((sample) => sample.v1)),
      ping: mean(list.map((sample) => sample.ping)),
      v1Paced: mean(list.map((sample) => sample.v1Paced)),
      samples: list,
    }
  })
  console.log(
    `${DURATION} s per route at ${CONNECTIONS} connections after ${WARMUP} s of /v1 (then /v1 at ${FIXED_RATE} req/s, paced), ${ROUNDS} rounds alternating, ${process.env.REDIS_URL ? 'Redis' : 'PostgreSQL'} quota store`
  )
  printTable(
    [
      'route',
      'V8 setting',
      'req/s',
      'p99 ms',
      'CPU µs/req',
      'scavenges/s',
      'ms each',
      'promoted KiB each',
      'full GCs/s',
      'GC pause ms/s',
    ],
    results.flatMap((result) =>
      (['v1', 'ping', 'v1Paced'] as const).map((route) => {
        const figures = result[route]
        return [
          ROUTE_NAMES[route],
          result.name,
          figures.requestsPerSecond,
          figures.p99,
          figures.cpuMicrosPerRequest,
          figures.gc.scavengesPerSecond,
          figures.gc.msPerScavenge,
          figures.gc.promotedKiBPerScavenge,
          figures.gc.fullCollectionsPerSecond,
          figures.gc.gcPauseMsPerSecond,
        ]
      })
    )
  )
  const errors = results.reduce(
    (sum, result) => sum + result.v1.non2xx + result.ping.non2xx + result.v1Paced.non2xx,
    0
  )
  if (errors > 0) console.log(`${errors} requests failed or answered non-2xx`)
  const file = await writeResults('gc', {
    date: new Date().toISOString(),
    node: process.version,
    rounds: ROUNDS,
    fixedRate: FIXED_RATE,
    redis: Boolean(process.env.REDIS_URL),
    results,
  })
  console.log(`wrote ${file}`)
} finally {
  await stop(upstream)
}
