/*
| Cost of an authenticated request: GET /api/v1/auth/me with a valid JWT
| (signature check, one indexed principal lookup, one RLS unit of work with
| two selects) versus GET /api/v1/system/ping (no database) and
| GET /health/ready (two small queries), on the same server, same run, same load.
|
|   npm run bench:auth            (BENCH_DURATION=10 BENCH_CONNECTIONS=50 by default)
*/
import autocannon from 'autocannon'
import pg from 'pg'
import { startAtriumServer, benchSession, rssMiB, stop, waitUntilOk } from './lib/processes.js'
import { printTable, writeResults } from './lib/report.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const WARMUP = 2
const PORT = 3403
const EMBEDDED_PORT = 29403
const base = `http://127.0.0.1:${PORT}`

const server = startAtriumServer(PORT)

try {
  await waitUntilOk(`${base}/health/ready`, performance.now())
  const session = await benchSession(base, {
    email: 'auth.bench@example.com',
    tenantName: 'Bench Co',
  })
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
  const tokenCheck = await compareTokenChecks(session.tokens.accessToken)

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
  console.log(
    `\ntoken check query, ${tokenCheck.rounds} rounds each, interleaved on one connection:\n` +
      `  without membership (before #10): mean ${tokenCheck.withoutMembership.meanUs} µs, p99 ${tokenCheck.withoutMembership.p99Us} µs\n` +
      `  with live membership and session: mean ${tokenCheck.withMembership.meanUs} µs, p99 ${tokenCheck.withMembership.p99Us} µs` +
      ` (x${ratio(tokenCheck.withMembership.meanUs, tokenCheck.withoutMembership.meanUs)})`
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
    tokenCheck,
    rssAfterLoadMiB: rss,
  })
  console.log(`wrote ${file}`)
} finally {
  await stop(server, 'SIGINT')
}

/**
 * The per-request token check, as it was (user, disabled, token denied) and
 * as it is (plus the live membership in the token's tenant and whether the
 * session was revoked), alternated on one connection so both see the same
 * machine: what the authorization fix costs, apart from HTTP noise.
 */
async function compareTokenChecks(accessToken: string) {
  const claims = JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString())
  const client = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${EMBEDDED_PORT}/atrium`,
  })
  await client.connect()
  const before = `SELECT u.id, u.email, u.is_superadmin, u.disabled_at,
      EXISTS (SELECT 1 FROM identity_revoked_access_tokens r WHERE r.jti = $1) AS revoked
      FROM identity_users u WHERE u.id = $2`
  const after = `SELECT u.id, u.email, u.is_superadmin, u.disabled_at,
      EXISTS (SELECT 1 FROM identity_revoked_access_tokens r WHERE r.jti = $1)
        OR EXISTS (SELECT 1 FROM identity_refresh_tokens f
                    WHERE f.family_id = $3 AND f.revoked_at IS NOT NULL) AS revoked,
      m.role AS membership_role
      FROM identity_users u
      LEFT JOIN identity_memberships m ON m.user_id = u.id AND m.tenant_id = $4
      WHERE u.id = $2`
  const rounds = 2000
  const samples: Record<'before' | 'after', number[]> = { before: [], after: [] }
  const time = async (sql: string, values: unknown[]) => {
    const started = process.hrtime.bigint()
    await client.query(sql, values)
    return Number(process.hrtime.bigint() - started) / 1000
  }
  try {
    for (let round = 0; round < rounds + 200; round++) {
      const first = await time(before, [claims.jti, claims.sub])
      const second = await time(after, [claims.jti, claims.sub, claims.sid, claims.tid])
      // The first 200 rounds warm the caches and the plans; they are not counted.
      if (round >= 200) {
        samples.before.push(first)
        samples.after.push(second)
      }
    }
  } finally {
    await client.end()
  }
  const summary = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b)
    return {
      meanUs: Math.round(values.reduce((sum, value) => sum + value, 0) / values.length),
      p99Us: Math.round(sorted[Math.floor(sorted.length * 0.99)]),
    }
  }
  return {
    rounds,
    withoutMembership: summary(samples.before),
    withMembership: summary(samples.after),
  }
}
