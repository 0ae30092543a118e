/*
| HTTP overhead of the full Atrium stack versus a bare node:http server, same
| machine, same run, same load.
|
|   npm run bench:http            (BENCH_DURATION=10 BENCH_CONNECTIONS=50 by default)
|
| Measures GET /api/v1/system/ping (router, request id, metrics, body parser,
| error handler) against a bare server answering the same JSON, and against
| AdonisJS' own HTTP server with one route and no middleware (the floor any
| AdonisJS app stands on, since the framework is a fixed choice); also cold
| start (spawn → /health/ready 200) and idle RSS. Atrium runs twice: from
| source through ts-exec (what `npm start` does) and as the built JS (what the
| Docker image runs; the script builds it first). Uses DATABASE_URL when set,
| otherwise the embedded PostgreSQL. With DATABASE_URL, also the transactions
| the idle built server costs its database over a minute (its worker's loops).
| And two calibration rows: the bare server with BENCH_WORK_US (10) µs of CPU
| added per request — what a ratio goal leaves the whole stack on this machine —
| and the bare server sending Atrium's answer byte for byte, headers included
| (a request id and the security headers: 482 bytes against 217), since the
| load generator on the same two cores parses every byte of each answer.
*/
import autocannon from 'autocannon'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import pg from 'pg'
import { APP_ROOT, rssMiB, spawnNode, stop, waitUntilOk } from './lib/processes.js'
import { printTable, writeResults } from './lib/report.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const WARMUP = 2
const ATRIUM_PORT = 3402
const BARE_PORT = 3401
/** The calibration row's busy time per request (BENCH_WORK_US). */
const CALIBRATION_WORK_US = Number(process.env.BENCH_WORK_US ?? 10)
const ADONIS_PORT = 3403

interface Measured {
  name: string
  requestsPerSecond: number
  meanMs: number
  p50: number
  p99: number
  errors: number
  non2xx: number
  coldStartMs: number
  idleRssMiB: number
  /** Transactions its database committed or rolled back over a minute of idling (DATABASE_URL only). */
  idleTransactionsPerMinute?: number
}

/**
 * Transactions committed or rolled back in the database of DATABASE_URL during
 * `ms` — what an idle server costs its database (the worker's loops looking
 * for work). Minus this reading's own transaction.
 */
async function transactionsDuring(ms: number) {
  const url = process.env.DATABASE_URL
  if (!url) return undefined
  const read = async () => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const { rows } = await client.query(
        `SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()`
      )
      return Number(rows[0].n)
    } finally {
      await client.end()
    }
  }
  // PostgreSQL reports a backend's transactions up to 10 s after they end (PGSTAT_IDLE_INTERVAL):
  // wait that out, so that the start-up's own work is not counted in the window.
  await new Promise((resolve) => setTimeout(resolve, 10_000))
  const before = await read()
  await new Promise((resolve) => setTimeout(resolve, ms))
  return (await read()) - before - 1
}

async function load(url: string, duration: number) {
  const result = await autocannon({ url, connections: CONNECTIONS, duration, pipelining: 1 })
  return result
}

async function measure(
  name: string,
  args: string[],
  env: Record<string, string | undefined>,
  port: number,
  readyPath: string,
  path: string,
  cwd?: string,
  options: { idleWindowMs?: number } = {}
) {
  const startedAt = performance.now()
  const child = spawnNode(args, { ...env, PORT: String(port), HOST: '127.0.0.1' }, cwd)
  try {
    const coldStartMs = await waitUntilOk(`http://127.0.0.1:${port}${readyPath}`, startedAt)
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const idleRssMiB = await rssMiB(child.pid!)
    // After its start-up passes, every loop of the worker is asleep until work falls due.
    const idleTransactionsPerMinute = options.idleWindowMs
      ? await transactionsDuring(options.idleWindowMs)
      : undefined
    await load(`http://127.0.0.1:${port}${path}`, WARMUP)
    const result = await load(`http://127.0.0.1:${port}${path}`, DURATION)
    return {
      name,
      requestsPerSecond: Math.round(result.requests.average),
      meanMs: result.latency.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      errors: result.errors,
      non2xx: result.non2xx,
      coldStartMs: Math.round(coldStartMs),
      idleRssMiB,
      idleTransactionsPerMinute,
    } satisfies Measured
  } finally {
    await stop(child, 'SIGINT')
  }
}

const atriumEnv = {
  NODE_ENV: 'production',
  // Fixed, because the bench database persists secrets encrypted with it (bench data only).
  APP_KEY: process.env.APP_KEY ?? 'atrium-bench-only-app-key-0123456789abcdef',
  LOG_LEVEL: 'warn',
  EMBEDDED_PG_PORT: '54402',
  EMBEDDED_PG_DATA: join(APP_ROOT, 'storage', 'bench-postgres', 'data'),
}

console.log(
  `Load: ${CONNECTIONS} connections, ${DURATION}s per target (after ${WARMUP}s warm-up), autocannon, Node ${process.version}`
)

console.log('building (node ace build) for the built-JS row…')
execFileSync(process.execPath, ['ace.js', 'build'], { cwd: APP_ROOT, stdio: 'ignore' })
const buildDir = join(APP_ROOT, 'build')

const rows: Measured[] = []
rows.push(
  await measure(
    'atrium, source via ts-exec (npm start)',
    ['--import=@poppinss/ts-exec', 'bin/server.ts'],
    atriumEnv,
    ATRIUM_PORT,
    '/health/ready',
    '/api/v1/system/ping'
  )
)
rows.push(
  await measure(
    'atrium, built JS (Docker image)',
    ['bin/server.js'],
    { ...atriumEnv, NODE_PATH: join(APP_ROOT, 'node_modules') },
    ATRIUM_PORT,
    '/health/ready',
    '/api/v1/system/ping',
    buildDir,
    { idleWindowMs: 60_000 }
  )
)
rows.push(
  await measure(
    'AdonisJS alone: one route, no middleware, same JSON',
    ['bench/lib/adonis_bare_server.mjs'],
    {},
    ADONIS_PORT,
    '/',
    '/'
  )
)
rows.push(
  await measure('bare node:http, same JSON', ['bench/lib/bare_server.mjs'], {}, BARE_PORT, '/', '/')
)
// Calibration: the bare server with a fixed cost per request. On a machine that also runs the
// load generator, throughput falls faster than the added time alone predicts (fewer requests
// per event-loop turn, two busy processes on two cores); this row shows what a goal like
// "ping ≥ 0.50 of bare" leaves the whole stack — framework, middleware, controller — per request.
rows.push(
  await measure(
    `bare node:http + ${CALIBRATION_WORK_US} µs of CPU per request`,
    ['bench/lib/bare_server.mjs'],
    { BENCH_WORK_US: String(CALIBRATION_WORK_US) },
    BARE_PORT,
    '/',
    '/'
  )
)
rows.push(
  await measure(
    'bare node:http, the same answer (JSON and headers)',
    ['bench/lib/bare_server.mjs'],
    { BENCH_SAME_HEADERS: '1' },
    BARE_PORT,
    '/',
    '/'
  )
)
const [source, built, adonis, bare, calibrated, sameAnswer] = rows

printTable(
  [
    'target',
    'req/s',
    'mean ms',
    'p50 ms',
    'p99 ms',
    'errors',
    'non-2xx',
    'cold start ms',
    'idle RSS MiB',
  ],
  rows.map((row) => [
    row.name,
    row.requestsPerSecond,
    row.meanMs.toFixed(2),
    row.p50,
    row.p99,
    row.errors,
    row.non2xx,
    row.coldStartMs,
    row.idleRssMiB,
  ])
)
const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100
const ratios = {
  builtVsBare: {
    throughput: ratio(built.requestsPerSecond, bare.requestsPerSecond),
    meanLatency: ratio(built.meanMs, bare.meanMs),
    p99: ratio(built.p99, Math.max(bare.p99, 1)),
  },
  sourceVsBare: {
    throughput: ratio(source.requestsPerSecond, bare.requestsPerSecond),
    meanLatency: ratio(source.meanMs, bare.meanMs),
  },
  /** The framework's own share: what AdonisJS alone reaches of bare node:http. */
  adonisVsBare: {
    throughput: ratio(adonis.requestsPerSecond, bare.requestsPerSecond),
  },
  /** Atrium's share: what the built app reaches of AdonisJS alone. */
  builtVsAdonis: {
    throughput: ratio(built.requestsPerSecond, adonis.requestsPerSecond),
  },
  /** What bare node:http reaches with CALIBRATION_WORK_US of CPU added per request. */
  calibratedVsBare: {
    workUs: CALIBRATION_WORK_US,
    throughput: ratio(calibrated.requestsPerSecond, bare.requestsPerSecond),
  },
  /** The built app ÷ the bare server sending the same bytes (its headers too). */
  builtVsSameAnswer: {
    throughput: ratio(built.requestsPerSecond, sameAnswer.requestsPerSecond),
    sameAnswerVsBare: ratio(sameAnswer.requestsPerSecond, bare.requestsPerSecond),
  },
}
console.log(
  `\natrium (built) / bare: throughput x${ratios.builtVsBare.throughput}, mean latency x${ratios.builtVsBare.meanLatency}, p99 x${ratios.builtVsBare.p99}`
)
console.log(
  `atrium (source) / bare: throughput x${ratios.sourceVsBare.throughput}, mean latency x${ratios.sourceVsBare.meanLatency}`
)
console.log(
  `AdonisJS alone / bare: throughput x${ratios.adonisVsBare.throughput}; atrium (built) / AdonisJS alone: x${ratios.builtVsAdonis.throughput}`
)
console.log(
  `bare + ${CALIBRATION_WORK_US} µs per request / bare: throughput x${ratios.calibratedVsBare.throughput}`
)
console.log(
  `bare with Atrium's headers / bare: x${ratios.builtVsSameAnswer.sameAnswerVsBare}; atrium (built) / that: x${ratios.builtVsSameAnswer.throughput}`
)
const database = process.env.DATABASE_URL ? 'external PostgreSQL' : 'embedded PostgreSQL'
console.log(`cold start = spawn → /health/ready 200, ${database} included`)
if (built.idleTransactionsPerMinute !== undefined) {
  console.log(
    `idle built server: ${built.idleTransactionsPerMinute} database transactions in a minute (its worker's loops)`
  )
}

const file = await writeResults('http-baseline', {
  date: new Date().toISOString(),
  node: process.version,
  load: {
    tool: 'autocannon',
    connections: CONNECTIONS,
    durationSeconds: DURATION,
    warmupSeconds: WARMUP,
  },
  database,
  results: rows,
  ratios,
})
console.log(`wrote ${file}`)
