/*
| Profiles one route: starts the server with a V8 CPU profiler, loads the
| route with autocannon (as the bench account when BENCH_AUTH=1), stops the
| server and prints where its CPU time went (bench/lib/profile_summary.ts).
| For finding what to fix; the figures to report come from the benches.
|
|   BENCH_BUILD=1 BENCH_AUTH=1 npm run bench:profile -- /api/v1/auth/me
|   BENCH_BUILD=1 BENCH_AUTH=1 npm run bench:profile -- /api/v1/tenants/:tenant
|   BENCH_BUILD=1 BENCH_GATEWAY=1 REDIS_URL=… npm run bench:profile -- /v1/chat/completions
|     (a fake upstream, a provider, an alias with limits and a key, as bench:gateway sets up)
|
| BENCH_ALLOCATIONS=1 profiles what the route allocates instead of its CPU
| (bench/lib/allocation_profile.ts): bytes a request over BENCH_REQUESTS
| (5000) requests after the same warm-up — a figure a noisy machine hardly
| moves, to compare two builds by.
*/
import autocannon from 'autocannon'
import { mkdtemp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import {
  APP_ROOT,
  startAtriumServer,
  benchSession,
  spawnNode,
  stop,
  waitUntilOk,
} from './lib/processes.js'
import { gatewayBenchKey } from './lib/gateway_key.js'
import { printAllocations, sampleAllocations } from './lib/allocation_profile.js'

/** `:tenant` in it is the bench account's active tenant (BENCH_AUTH=1): `/api/v1/tenants/:tenant`. */
let path = process.argv[2] ?? '/api/v1/system/ping'
const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const PORT = 3405
const base = `http://127.0.0.1:${PORT}`
const ALLOCATIONS = Boolean(process.env.BENCH_ALLOCATIONS)
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 5000)
const INSPECTOR_PORT = 9405
const profileDir = await mkdtemp(join(tmpdir(), 'atrium-profile-'))
if (!ALLOCATIONS) process.env.BENCH_CPU_PROF = profileDir

const UPSTREAM_PORT = 3406
const upstream = process.env.BENCH_GATEWAY
  ? spawnNode(['bench/lib/fake_llm.mjs'], { PORT: String(UPSTREAM_PORT) })
  : null
const server = startAtriumServer(
  PORT,
  { REDIS_URL: process.env.REDIS_URL },
  ALLOCATIONS ? [`--inspect=127.0.0.1:${INSPECTOR_PORT}`] : []
)
try {
  await waitUntilOk(`${base}/health/ready`, performance.now())
  const headers: Record<string, string> = {}
  let body: string | undefined
  if (process.env.BENCH_GATEWAY) {
    const gateway = await gatewayBenchKey(base, UPSTREAM_PORT, {
      email: 'profile.bench@example.com',
      tenantName: 'Profile Co',
      prefix: 'profile',
    })
    headers.authorization = `Bearer ${gateway.secret}`
    headers['content-type'] = 'application/json'
    body = JSON.stringify({
      model: gateway.alias,
      messages: [{ role: 'user', content: 'ping' }],
      max_tokens: 16,
    })
  }
  if (process.env.BENCH_AUTH) {
    const session = await benchSession(base, {
      email: 'auth.bench@example.com',
      tenantName: 'Bench Co',
    })
    headers.authorization = `Bearer ${session.tokens.accessToken}`
    path = path.replace(':tenant', session.activeTenantId ?? 'none')
  }
  const target = {
    url: `${base}${path}`,
    connections: CONNECTIONS,
    headers,
    ...(body ? { method: 'POST' as const, body } : {}),
  }
  if (ALLOCATIONS) {
    await autocannon({ ...target, duration: DURATION })
    const sampled = await sampleAllocations(INSPECTOR_PORT, async () => {
      const measured = await autocannon({ ...target, amount: REQUESTS })
      if (measured.non2xx) throw new Error(`${path}: ${measured.non2xx} answers were not 2xx`)
      return measured.requests.total
    })
    console.log(`${path}: what it allocates, after ${DURATION} s of warm-up`)
    printAllocations(sampled.profile, sampled.requests)
  } else {
    const result = await autocannon({ ...target, duration: DURATION })
    console.log(
      `${path}: ${Math.round(result.requests.average)} req/s, mean ${result.latency.average} ms, ` +
        `p99 ${result.latency.p99} ms, non-2xx ${result.non2xx} (with the profiler attached)`
    )
  }
} finally {
  await stop(server, 'SIGINT')
  if (upstream) await stop(upstream)
}
if (!ALLOCATIONS) {
  const written = await readdir(profileDir)
  const main = written.filter((name) => name.endsWith('.cpuprofile')).sort()[0]
  execFileSync(
    process.execPath,
    ['--import=@poppinss/ts-exec', 'bench/lib/profile_summary.ts', join(profileDir, main), '30'],
    { stdio: 'inherit', cwd: APP_ROOT }
  )
}
