/*
| Memory under load, V8's defaults against Atrium's heap settings, side by
| side: the built server (Redis quota store when REDIS_URL is set) serves
| 10 s of /v1/chat/completions at 64 connections (a key with 8 limited
| counters, as bench:gateway); resident memory idle and
| after the load, heap, throughput and p99 — in alternating rounds so drift
| hits both alike.
|
|   Atrium's settings: --max-semi-space-size=32 (package.json's start, the
|   Dockerfile, bench/lib/processes.ts), --heap-growing-percent=50 and
|   --no-allocation-site-pretenuring (set at start-up by app/platform/v8_tuning.ts).
|   V8's defaults: --heap-growing-percent=0 (adaptive), a 64 MiB semi-space,
|   allocation-site pretenuring on (Atrium turns it off, see bench:gc)
|   (and glibc's adaptive mmap threshold; Atrium fixes it, see the Dockerfile).
|
|   npm run build && BENCH_BUILD=1 npm run bench:memory   (BENCH_ROUNDS=2)
*/
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import autocannon from 'autocannon'
import {
  APP_ROOT,
  ATRIUM_PROCESS_ENV,
  rssMiB,
  spawnNode,
  startAtriumServer,
  stop,
  waitUntilOk,
} from './lib/processes.js'
import { gatewayBenchKey } from './lib/gateway_key.js'
import { printTable, writeResults } from './lib/report.js'

const execFileAsync = promisify(execFile)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const UPSTREAM_PORT = 3431
const PORT = 3432
const base = `http://127.0.0.1:${PORT}`

const variants = [
  {
    name: "V8's defaults",
    nodeArgs: [
      '--heap-growing-percent=0',
      '--max-semi-space-size=64',
      '--allocation-site-pretenuring',
    ],
    // glibc's default too: the adaptive mmap threshold Atrium's start-up fixes.
    env: { MALLOC_MMAP_THRESHOLD_: undefined } as Record<string, string | undefined>,
  },
  { name: "Atrium's heap settings", nodeArgs: [] as string[], env: {} },
]

async function heapMiB() {
  const text = await fetch(`${base}/metrics`).then((response) => response.text())
  const value = (name: string) =>
    Number(
      text
        .split('\n')
        .find((line) => line.startsWith(`${name}{`))
        ?.split(' ')
        .at(-1)
    )
  return Math.round(value('nodejs_heap_size_total_bytes') / 1048576)
}

interface Sample {
  idleRssMiB: number
  rssAfterMiB: number
  heapAfterMiB: number
  requestsPerSecond: number
  p99: number
}

async function measure(nodeArgs: string[], env: Record<string, string | undefined>) {
  // The same server; the variant's flags come after Atrium's own, so they win.
  const server = startAtriumServer(PORT, { REDIS_URL: process.env.REDIS_URL, ...env }, nodeArgs)
  try {
    await waitUntilOk(`${base}/health/ready`, performance.now())
    const idleRssMiB = await rssMiB(server.pid!)
    const key = await gatewayBenchKey(base, UPSTREAM_PORT, {
      email: 'memory.bench@example.com',
      tenantName: 'Mem Co',
      prefix: 'mem',
    })
    const result = await autocannon({
      url: `${base}/v1/chat/completions`,
      method: 'POST',
      connections: 64,
      duration: 10,
      headers: { 'authorization': `Bearer ${key.secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: key.alias,
        messages: [{ role: 'user', content: 'ping' }],
        max_tokens: 16,
      }),
    })
    return {
      idleRssMiB,
      rssAfterMiB: await rssMiB(server.pid!),
      heapAfterMiB: await heapMiB(),
      requestsPerSecond: Math.round(result.requests.average),
      p99: result.latency.p99,
    }
  } finally {
    await stop(server, 'SIGINT')
  }
}

/**
 * The login path's memory apart from everything else: scrypt's 16 MiB blocks on
 * libuv's threads, with glibc's adaptive mmap threshold and with Atrium's fixed one,
 * alternating so drift hits both alike.
 */
async function scryptRss() {
  const settings = [
    { name: 'glibc default', env: { MALLOC_MMAP_THRESHOLD_: undefined } },
    { name: 'MALLOC_MMAP_THRESHOLD_=131072 (Atrium)', env: ATRIUM_PROCESS_ENV },
  ]
  const runs = new Map<string, Array<{ rssBeforeMiB: number; rssAfterMiB: number }>>()
  for (let round = 0; round < ROUNDS; round++) {
    for (const setting of settings) {
      const env = Object.fromEntries(
        Object.entries({ ...process.env, ...setting.env }).filter(
          ([, value]) => value !== undefined
        )
      )
      const { stdout } = await execFileAsync(process.execPath, ['bench/lib/scrypt_load.mjs'], {
        cwd: APP_ROOT,
        env,
      })
      runs.set(setting.name, [...(runs.get(setting.name) ?? []), JSON.parse(stdout)])
    }
  }
  return settings.map((setting) => {
    const list = runs.get(setting.name)!
    const mean = (values: number[]) =>
      Math.round((values.reduce((sum, value) => sum + value, 0) / values.length) * 10) / 10
    return {
      name: setting.name,
      rssBeforeMiB: mean(list.map((run) => run.rssBeforeMiB)),
      rssAfterMiB: mean(list.map((run) => run.rssAfterMiB)),
    }
  })
}

const upstream = spawnNode(['bench/lib/fake_llm.mjs'], { PORT: String(UPSTREAM_PORT) })
try {
  const samples = new Map<string, Sample[]>()
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of variants) {
      samples.set(variant.name, [
        ...(samples.get(variant.name) ?? []),
        await measure(variant.nodeArgs, variant.env),
      ])
    }
  }
  const rows = variants.map((variant) => {
    const list = samples.get(variant.name)!
    const mean = (pick: (sample: Sample) => number) =>
      Math.round((list.reduce((sum, sample) => sum + pick(sample), 0) / list.length) * 10) / 10
    return {
      name: variant.name,
      nodeArgs: variant.nodeArgs,
      idleRssMiB: mean((sample) => sample.idleRssMiB),
      rssAfterMiB: mean((sample) => sample.rssAfterMiB),
      heapAfterMiB: mean((sample) => sample.heapAfterMiB),
      requestsPerSecond: mean((sample) => sample.requestsPerSecond),
      p99: mean((sample) => sample.p99),
      samples: list,
    }
  })
  console.log(
    `10 s of /v1/chat/completions at 64 connections per sample, ${ROUNDS} rounds alternating, ${process.env.REDIS_URL ? 'Redis' : 'PostgreSQL'} quota store`
  )
  printTable(
    ['settings', 'idle RSS MiB', 'RSS after MiB', 'heap after MiB', 'req/s', 'p99 ms'],
    rows.map((row) => [
      row.name,
      row.idleRssMiB,
      row.rssAfterMiB,
      row.heapAfterMiB,
      row.requestsPerSecond,
      row.p99,
    ])
  )
  const logins = await scryptRss()
  console.log(`\nlogin hashing: 96 scrypt hashes, 8 at a time, in a bare process per setting`)
  printTable(
    ['malloc', 'RSS before MiB', 'RSS after MiB'],
    logins.map((row) => [row.name, row.rssBeforeMiB, row.rssAfterMiB])
  )
  const file = await writeResults('memory', {
    date: new Date().toISOString(),
    node: process.version,
    rounds: ROUNDS,
    redis: Boolean(process.env.REDIS_URL),
    results: rows,
    logins,
  })
  console.log(`wrote ${file}`)
} finally {
  await stop(upstream)
}
