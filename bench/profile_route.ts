/*
| Profiles one route: starts the server with a V8 CPU profiler, loads the
| route with autocannon (as the bench account when BENCH_AUTH=1), stops the
| server and prints where its CPU time went (bench/lib/profile_summary.ts).
| For finding what to fix; the figures to report come from the benches.
|
|   BENCH_BUILD=1 BENCH_AUTH=1 npm run bench:profile -- /api/v1/auth/me
|   BENCH_BUILD=1 BENCH_GATEWAY=1 REDIS_URL=… npm run bench:profile -- /v1/chat/completions
|     (a fake upstream, a provider, an alias with limits and a key, as bench:gateway sets up)
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

const path = process.argv[2] ?? '/api/v1/system/ping'
const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const PORT = 3405
const base = `http://127.0.0.1:${PORT}`
const profileDir = await mkdtemp(join(tmpdir(), 'atrium-profile-'))
process.env.BENCH_CPU_PROF = profileDir

const UPSTREAM_PORT = 3406
const upstream = process.env.BENCH_GATEWAY
  ? spawnNode(['bench/lib/fake_llm.mjs'], { PORT: String(UPSTREAM_PORT) })
  : null
const server = startAtriumServer(PORT, { REDIS_URL: process.env.REDIS_URL })
try {
  await waitUntilOk(`${base}/health/ready`, performance.now())
  const headers: Record<string, string> = {}
  let body: string | undefined
  if (process.env.BENCH_GATEWAY) {
    const gateway = await gatewayKey()
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
  }
  const result = await autocannon({
    url: `${base}${path}`,
    connections: CONNECTIONS,
    duration: DURATION,
    headers,
    ...(body ? { method: 'POST' as const, body } : {}),
  })
  console.log(
    `${path}: ${Math.round(result.requests.average)} req/s, mean ${result.latency.average} ms, ` +
      `p99 ${result.latency.p99} ms, non-2xx ${result.non2xx} (with the profiler attached)`
  )
} finally {
  await stop(server, 'SIGINT')
  if (upstream) await stop(upstream)
}
const written = await readdir(profileDir)
const main = written.filter((name) => name.endsWith('.cpuprofile')).sort()[0]
execFileSync(
  process.execPath,
  ['--import=@poppinss/ts-exec', 'bench/lib/profile_summary.ts', join(profileDir, main), '30'],
  { stdio: 'inherit', cwd: APP_ROOT }
)

/** A provider on the fake upstream, an alias and a key with 8 limited counters (as bench:gateway). */
async function gatewayKey() {
  const session = await benchSession(base, {
    email: 'profile.bench@example.com',
    tenantName: 'Profile Co',
  })
  const post = async (route: string, input: unknown, method = 'POST') => {
    const response = await fetch(`${base}${route}`, {
      method,
      headers: {
        'content-type': 'application/json',
        'authorization': `Bearer ${session.tokens.accessToken}`,
      },
      body: JSON.stringify(input),
    })
    if (!response.ok) throw new Error(`${route} answered ${response.status}`)
    // Bench setup answers are read loosely; their shapes are tested elsewhere.
    return response.json() as Promise<Record<string, any>>
  }
  const run = Date.now().toString(36)
  const provider = await post('/api/v1/gateway/providers', {
    name: `fake ${run}`,
    kind: 'openai-compatible',
    baseUrl: `http://127.0.0.1:${UPSTREAM_PORT}/v1`,
    maxRetries: 0,
  })
  const alias = `profile-${run}`
  await post('/api/v1/gateway/models', {
    alias,
    inputPricePerMTok: 100,
    outputPricePerMTok: 300,
    deployments: [{ providerId: provider.id, upstreamModel: 'bench-model' }],
  })
  const limits = {
    requestsPerMinute: 1e9,
    tokensPerMinute: 1e9,
    tokensPerDay: 1e9,
    monthlyBudget: 1e9,
  }
  await post('/api/v1/gateway/limits', limits, 'PUT')
  const key = await post('/api/v1/gateway/keys', { name: `profile ${run}`, limits })
  return { secret: key.secret as string, alias }
}
