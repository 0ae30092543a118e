/*
| Cost of an authenticated request: GET /api/v1/auth/me with a valid JWT
| (signature check, the token's state and the user's profile from the
| per-process caches, which the identity tables' triggers keep right) versus
| GET /api/v1/system/ping (no database) and GET /health/ready (two small
| queries), on the same server, same run, same load. And what an
| authenticated route that reads the database on every request costs:
| GET /api/v1/tenants/:id of the caller's active tenant (a read-only unit of
| work under row-level security: one statement, the membership coming with
| the token check), against the floor of any such route — /auth/me's read
| from a bare node:http + pg server (bare_db_server.mjs).
|
|   npm run bench:auth            (BENCH_DURATION=10 BENCH_CONNECTIONS=50 by default)
*/
import autocannon from 'autocannon'
import {
  startAtriumServer,
  benchSession,
  rssMiB,
  spawnNode,
  stop,
  waitUntilOk,
} from './lib/processes.js'
import { printTable, writeResults } from './lib/report.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const WARMUP = 2
const PORT = 3403
const EMBEDDED_PORT = 29403
const BARE_PORT = 3407
const base = `http://127.0.0.1:${PORT}`

const server = startAtriumServer(PORT)

try {
  await waitUntilOk(`${base}/health/ready`, performance.now())
  const session = await benchSession(base, {
    email: 'auth.bench@example.com',
    tenantName: 'Bench Co',
  })
  const headers = { authorization: `Bearer ${session.tokens.accessToken}` }

  const measure = (name: string, path: string, withAuth: boolean) =>
    measureUrl(name, `${base}${path}`, withAuth ? headers : {})
  async function measureUrl(name: string, url: string, requestHeaders: Record<string, string>) {
    const options = { url, connections: CONNECTIONS, headers: requestHeaders }
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
  const tenant = await measure(
    'GET /api/v1/tenants/:id (JWT, reads the database each time)',
    `/api/v1/tenants/${session.activeTenantId ?? 'none'}`,
    true
  )
  const rss = await rssMiB(server.pid!)
  // The floor: the same read from a bare node:http + pg server, same database, same load.
  const claims = JSON.parse(
    Buffer.from(session.tokens.accessToken.split('.')[1], 'base64url').toString()
  ) as { sub: string }
  const bare = spawnNode(['bench/lib/bare_db_server.mjs'], {
    PORT: String(BARE_PORT),
    // The database the Atrium server uses: DATABASE_URL when set, else its embedded one.
    DATABASE_URL:
      process.env.DATABASE_URL || `postgres://postgres@127.0.0.1:${EMBEDDED_PORT}/atrium`,
    BENCH_USER_ID: claims.sub,
  })
  let floor
  try {
    await waitUntilOk(`http://127.0.0.1:${BARE_PORT}/`, performance.now())
    floor = await measureUrl(
      'bare node:http + pg, the same read (no auth, no RLS)',
      `http://127.0.0.1:${BARE_PORT}/`,
      {}
    )
  } finally {
    await stop(bare, 'SIGTERM')
  }

  printTable(
    ['route', 'req/s', 'mean ms', 'p99 ms', 'errors', 'non-2xx'],
    [ping, ready, me, tenant, floor].map((row) => [
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
    pingVsFloor: { throughput: ratio(ping.requestsPerSecond, floor.requestsPerSecond) },
    meVsFloor: {
      throughput: ratio(me.requestsPerSecond, floor.requestsPerSecond),
      p99: ratio(me.p99, Math.max(floor.p99, 1)),
    },
    tenantVsFloor: {
      throughput: ratio(tenant.requestsPerSecond, floor.requestsPerSecond),
      p99: ratio(tenant.p99, Math.max(floor.p99, 1)),
    },
  }
  console.log(
    `\nauth/me vs ping: throughput x${ratios.meVsPing.throughput}, mean latency x${ratios.meVsPing.meanLatency}`
  )
  console.log(
    `auth/me vs readiness: throughput x${ratios.meVsReady.throughput}, mean latency x${ratios.meVsReady.meanLatency}; server RSS after load ${rss} MiB`
  )
  console.log(
    `auth/me vs the bare floor (one pooled query, no framework): throughput x${ratios.meVsFloor.throughput}, p99 x${ratios.meVsFloor.p99}; the floor itself is x${ratio(floor.requestsPerSecond, ping.requestsPerSecond)} of ping`
  )
  console.log(
    `tenants/:id (reads the database) vs the bare floor: throughput x${ratios.tenantVsFloor.throughput}, p99 x${ratios.tenantVsFloor.p99}`
  )
  for (const row of [me, tenant]) {
    if (row.non2xx > 0) console.log(`warning: ${row.name} answered non-2xx during the run`)
  }
  const file = await writeResults('auth-me', {
    date: new Date().toISOString(),
    node: process.version,
    load: {
      tool: 'autocannon',
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      warmupSeconds: WARMUP,
    },
    results: [ping, ready, me, tenant, floor],
    ratios,
    rssAfterLoadMiB: rss,
  })
  console.log(`wrote ${file}`)
} finally {
  await stop(server, 'SIGINT')
}
