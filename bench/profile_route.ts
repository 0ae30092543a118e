/*
| Profiles one route: starts the server with a V8 CPU profiler, loads the
| route with autocannon (as the bench account when BENCH_AUTH=1), stops the
| server and prints where its CPU time went (bench/lib/profile_summary.ts).
| For finding what to fix; the figures to report come from the benches.
|
|   BENCH_BUILD=1 BENCH_AUTH=1 npm run bench:profile -- /api/v1/auth/me
*/
import autocannon from 'autocannon'
import { mkdtemp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'
import { APP_ROOT, startAtriumServer, benchSession, stop, waitUntilOk } from './lib/processes.js'

const path = process.argv[2] ?? '/api/v1/system/ping'
const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const PORT = 3405
const base = `http://127.0.0.1:${PORT}`
const profileDir = await mkdtemp(join(tmpdir(), 'atrium-profile-'))
process.env.BENCH_CPU_PROF = profileDir

const server = startAtriumServer(PORT)
try {
  await waitUntilOk(`${base}/health/ready`, performance.now())
  const headers: Record<string, string> = {}
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
  })
  console.log(
    `${path}: ${Math.round(result.requests.average)} req/s, mean ${result.latency.average} ms, ` +
      `p99 ${result.latency.p99} ms, non-2xx ${result.non2xx} (with the profiler attached)`
  )
} finally {
  await stop(server, 'SIGINT')
}
const written = await readdir(profileDir)
const main = written.filter((name) => name.endsWith('.cpuprofile')).sort()[0]
execFileSync(
  process.execPath,
  ['--import=@poppinss/ts-exec', 'bench/lib/profile_summary.ts', join(profileDir, main), '30'],
  { stdio: 'inherit', cwd: APP_ROOT }
)
