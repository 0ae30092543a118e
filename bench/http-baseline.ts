/*
| HTTP overhead of the full Atrium stack versus a bare node:http server, same
| machine, same run, same load.
|
|   npm run bench:http            (BENCH_ROUNDS=3 BENCH_DURATION=5 BENCH_CONNECTIONS=50 by default)
|
| The built app and the four floors run at once and are loaded in turn, one
| BENCH_DURATION-second load each per round: a shared machine has slow and
| fast spells (the bare row alone moved 28.6k–43.6k req/s between three runs
| of the sequential version), and a ratio of two loads taken seconds apart in
| the same round is steadier than one of loads taken minutes apart. Each row
| reports its median round; the ratios are medians of each round's ratio.
| The source row (not a goal) runs alone first: with the embedded database
| two Atrium processes would share its data directory.
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
import { APP_ROOT, cpuMs, rssMiB, spawnNode, stop, waitUntilOk } from './lib/processes.js'
import { medianRun, printTable, writeResults } from './lib/report.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const WARMUP = 2
const ATRIUM_PORT = 3402
const BUILT_PORT = 3404
const BARE_PORT = 3401
const CALIBRATED_PORT = 3407
const SAME_ANSWER_PORT = 3408
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
  /** Each round's req/s, in round order (the interleaved targets). */
  rounds?: number[]
  /**
   * The server's CPU time (user and system, all threads) per request, median over its rounds: what
   * a request costs the server, which moves less with the load generator's share of the two cores
   * than req/s does (compare builds in one session).
   */
  serverCpuMicrosPerRequest: number
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

const round2 = (value: number) => Math.round(value * 100) / 100

async function load(url: string, duration: number) {
  const result = await autocannon({ url, connections: CONNECTIONS, duration, pipelining: 1 })
  return result
}

interface Target {
  name: string
  args: string[]
  env: Record<string, string | undefined>
  port: number
  readyPath: string
  path: string
  cwd?: string
  idleWindowMs?: number
}

/** Spawns a target and waits until it answers: its cold start, idle RSS and idle transactions. */
async function start(target: Target) {
  const startedAt = performance.now()
  const child = spawnNode(
    target.args,
    { ...target.env, PORT: String(target.port), HOST: '127.0.0.1' },
    target.cwd
  )
  try {
    const coldStartMs = await waitUntilOk(
      `http://127.0.0.1:${target.port}${target.readyPath}`,
      startedAt
    )
    await new Promise((resolve) => setTimeout(resolve, 2000))
    const idleRssMiB = await rssMiB(child.pid!)
    // After its start-up passes, every loop of the worker is asleep until work falls due.
    const idleTransactionsPerMinute = target.idleWindowMs
      ? await transactionsDuring(target.idleWindowMs)
      : undefined
    const url = `http://127.0.0.1:${target.port}${target.path}`
    await load(url, WARMUP)
    return {
      child,
      url,
      idle: { coldStartMs: Math.round(coldStartMs), idleRssMiB, idleTransactionsPerMinute },
    }
  } catch (error) {
    await stop(child, 'SIGINT')
    throw error
  }
}

type Started = Awaited<ReturnType<typeof start>>

async function loadRound(started: Started) {
  const cpuBefore = await cpuMs(started.child.pid!)
  const result = await load(started.url, DURATION)
  const cpuAfter = await cpuMs(started.child.pid!)
  return {
    serverCpuMicrosPerRequest: round2(((cpuAfter - cpuBefore) * 1000) / result.requests.total),
    requestsPerSecond: Math.round(result.requests.average),
    meanMs: result.latency.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  }
}
type Round = Awaited<ReturnType<typeof loadRound>>

/** A row from a target's rounds: its median round's figures, every failure of every round. */
function rowOf(target: Target, started: Started, rounds: Round[]): Measured {
  const median = medianRun(rounds, (round) => round.requestsPerSecond)
  return {
    name: target.name,
    requestsPerSecond: median.requestsPerSecond,
    meanMs: median.meanMs,
    p50: median.p50,
    p99: median.p99,
    errors: rounds.reduce((sum, round) => sum + round.errors, 0),
    non2xx: rounds.reduce((sum, round) => sum + round.non2xx, 0),
    ...started.idle,
    rounds: median.rounds,
    serverCpuMicrosPerRequest: medianRun(rounds, (round) => round.serverCpuMicrosPerRequest)
      .serverCpuMicrosPerRequest,
  }
}

/** Starts every target, then loads each in turn for ROUNDS rounds; stops them all. */
async function interleaved(targets: Target[]) {
  const started: Started[] = []
  try {
    for (const target of targets) started.push(await start(target))
    const rounds: Round[][] = targets.map(() => [])
    for (let round = 0; round < ROUNDS; round++) {
      for (const [index, one] of started.entries()) rounds[index].push(await loadRound(one))
    }
    return targets.map((target, index) => rowOf(target, started[index], rounds[index]))
  } finally {
    await Promise.all(started.map((one) => stop(one.child, 'SIGINT')))
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
  `Load: ${CONNECTIONS} connections, ${ROUNDS} interleaved rounds of ${DURATION}s per target (after ${WARMUP}s warm-up), autocannon, Node ${process.version}`
)

console.log('building (node ace build) for the built-JS row…')
execFileSync(process.execPath, ['ace.js', 'build'], { cwd: APP_ROOT, stdio: 'ignore' })
const buildDir = join(APP_ROOT, 'build')

const sourceTarget: Target = {
  name: 'atrium, source via ts-exec (npm start)',
  args: ['--import=@poppinss/ts-exec', 'bin/server.ts'],
  env: atriumEnv,
  port: ATRIUM_PORT,
  readyPath: '/health/ready',
  path: '/api/v1/system/ping',
}
const alone = await interleaved([sourceTarget])
const bareTarget = (name: string, port: number, env: Record<string, string> = {}): Target => ({
  name,
  args: ['bench/lib/bare_server.mjs'],
  env,
  port,
  readyPath: '/',
  path: '/',
})
const together = await interleaved([
  {
    name: 'atrium, built JS (Docker image)',
    args: ['bin/server.js'],
    env: { ...atriumEnv, NODE_PATH: join(APP_ROOT, 'node_modules') },
    port: BUILT_PORT,
    readyPath: '/health/ready',
    path: '/api/v1/system/ping',
    cwd: buildDir,
    idleWindowMs: 60_000,
  },
  {
    name: 'AdonisJS alone: one route, no middleware, same JSON',
    args: ['bench/lib/adonis_bare_server.mjs'],
    env: {},
    port: ADONIS_PORT,
    readyPath: '/',
    path: '/',
  },
  bareTarget('bare node:http, same JSON', BARE_PORT),
  // Calibration: the bare server with a fixed cost per request. On a machine that also runs the
  // load generator, throughput falls faster than the added time alone predicts (fewer requests
  // per event-loop turn, two busy processes on two cores); this row shows what a goal like
  // "ping ≥ 0.50 of bare" leaves the whole stack — framework, middleware, controller — per request.
  bareTarget(`bare node:http + ${CALIBRATION_WORK_US} µs of CPU per request`, CALIBRATED_PORT, {
    BENCH_WORK_US: String(CALIBRATION_WORK_US),
  }),
  bareTarget('bare node:http, the same answer (JSON and headers)', SAME_ANSWER_PORT, {
    BENCH_SAME_HEADERS: '1',
  }),
])
const rows: Measured[] = [...alone, ...together]
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
    'server CPU µs/req',
    'req/s by round',
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
    row.serverCpuMicrosPerRequest,
    row.rounds?.join(' ') ?? '',
  ])
)
const ratio = (a: number, b: number) => round2(a / b)
/** The median over rounds of a ÷ b in the same round (each load of a next to one of b). */
const paired = (a: Measured, b: Measured) => {
  const each = a.rounds!.map((value, index) => value / b.rounds![index]).sort((x, y) => x - y)
  return round2(each[Math.floor((each.length - 1) / 2)])
}
const ratios = {
  builtVsBare: {
    throughput: paired(built, bare),
    meanLatency: ratio(built.meanMs, bare.meanMs),
    p99: ratio(built.p99, Math.max(bare.p99, 1)),
  },
  sourceVsBare: {
    throughput: ratio(source.requestsPerSecond, bare.requestsPerSecond),
    meanLatency: ratio(source.meanMs, bare.meanMs),
  },
  /** The framework's own share: what AdonisJS alone reaches of bare node:http. */
  adonisVsBare: {
    throughput: paired(adonis, bare),
  },
  /** Atrium's share: what the built app reaches of AdonisJS alone. */
  builtVsAdonis: {
    throughput: paired(built, adonis),
  },
  /** What bare node:http reaches with CALIBRATION_WORK_US of CPU added per request. */
  calibratedVsBare: {
    workUs: CALIBRATION_WORK_US,
    throughput: paired(calibrated, bare),
  },
  /** The built app ÷ the bare server sending the same bytes (its headers too). */
  builtVsSameAnswer: {
    throughput: paired(built, sameAnswer),
    sameAnswerVsBare: paired(sameAnswer, bare),
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
    rounds: ROUNDS,
    durationSeconds: DURATION,
    warmupSeconds: WARMUP,
  },
  database,
  results: rows,
  ratios,
})
console.log(`wrote ${file}`)
