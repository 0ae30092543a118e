/*
| Cost of an authenticated request: GET /api/v1/auth/me with a valid JWT
| (signature check, one indexed principal lookup, one RLS unit of work with
| two selects) versus GET /api/v1/system/ping (no database) and
| GET /health/ready (two small queries), on the same server, same run, same load.
|
|   npm run bench:auth            (BENCH_DURATION=10 BENCH_CONNECTIONS=50 by default)
*/
import autocannon from 'autocannon'
import { join } from 'node:path'
import { APP_ROOT, rssMiB, spawnNode, stop, waitUntilOk } from './lib/processes.js'
import { printTable, writeResults } from './lib/report.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const WARMUP = 2
const PORT = 3403
const base = `http://127.0.0.1:${PORT}`

const server = spawnNode(['--import=@poppinss/ts-exec', 'bin/server.ts'], {
  NODE_ENV: 'production',
  // Fixed, because the bench database persists secrets encrypted with it (bench data only).
  APP_KEY: process.env.APP_KEY ?? 'atrium-bench-only-app-key-0123456789abcdef',
  LOG_LEVEL: 'warn',
  PORT: String(PORT),
  HOST: '127.0.0.1',
  EMBEDDED_PG_PORT: '29403',
  EMBEDDED_PG_DATA: join(APP_ROOT, 'storage', 'bench-postgres', 'data'),
})

try {
  await waitUntilOk(`${base}/health/ready`, performance.now())
  const email = `bench.${Date.now()}@example.com`
  const registered = await fetch(`${base}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email,
      password: 'benchmark password 1',
      name: 'Bench',
      tenantName: 'Bench Co',
    }),
  })
  if (registered.status !== 201)
    throw new Error(`register answered ${registered.status}: ${await registered.text()}`)
  const session = (await registered.json()) as { tokens: { accessToken: string } }
  const headers = { authorization: `Bearer ${session.tokens.accessToken}` }

  const measure = async (name: string, path: string, withAuth: boolean) => {
    const options = {
      url: `${base}${path}`,
      connections: CONNECTIONS,
      headers: withAuth ? headers : {},
    }
    await autocannon({ ...options, duration: WARMUP })
    const result = await autocannon({ ...options, duration: DURATION })
    return {
      name,
      requestsPerSecond: Math.round(result.requests.average),
      meanMs: result.latency.average,
      p99: result.latency.p99,
      errors: result.errors,
      non2xx: result.non2xx,
    }
  }

  console.log(
    `Load: ${CONNECTIONS} connections, ${DURATION}s per route (after ${WARMUP}s warm-up), autocannon`
  )
  const ping = await measure('GET /api/v1/system/ping (no db)', '/api/v1/system/ping', false)
  const ready = await measure('GET /health/ready (2 small queries)', '/health/ready', false)
  const me = await measure('GET /api/v1/auth/me (JWT)', '/api/v1/auth/me', true)
  const rss = await rssMiB(server.pid!)

  printTable(
    ['route', 'req/s', 'mean ms', 'p99 ms', 'errors', 'non-2xx'],
    [ping, ready, me].map((row) => [
      row.name,
      row.requestsPerSecond,
      row.meanMs.toFixed(2),
      row.p99,
      row.errors,
      row.non2xx,
    ])
  )
  const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100
  const ratios = {
    meVsPing: {
      throughput: ratio(me.requestsPerSecond, ping.requestsPerSecond),
      meanLatency: ratio(me.meanMs, ping.meanMs),
    },
    meVsReady: {
      throughput: ratio(me.requestsPerSecond, ready.requestsPerSecond),
      meanLatency: ratio(me.meanMs, ready.meanMs),
    },
  }
  console.log(
    `\nauth/me vs ping: throughput x${ratios.meVsPing.throughput}, mean latency x${ratios.meVsPing.meanLatency}`
  )
  console.log(
    `auth/me vs readiness: throughput x${ratios.meVsReady.throughput}, mean latency x${ratios.meVsReady.meanLatency}; server RSS after load ${rss} MiB`
  )
  if (me.non2xx > 0) console.log('warning: auth/me answered non-2xx during the run')
  const file = await writeResults('auth-me', {
    date: new Date().toISOString(),
    node: process.version,
    load: {
      tool: 'autocannon',
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      warmupSeconds: WARMUP,
    },
    results: [ping, ready, me],
    ratios,
    rssAfterLoadMiB: rss,
  })
  console.log(`wrote ${file}`)
} finally {
  await stop(server, 'SIGINT')
}
