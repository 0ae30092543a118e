import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

export const APP_ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Polls `url` until it answers 200; returns milliseconds since `startedAt`. */
export async function waitUntilOk(url: string, startedAt: number, timeoutMs = 60_000) {
  while (performance.now() - startedAt < timeoutMs) {
    try {
      const response = await fetch(url)
      if (response.ok) return performance.now() - startedAt
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`)
}

/** Resident memory of a process in MiB, from /proc (Linux). */
export async function rssMiB(pid: number) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return Math.round((kib / 1024) * 10) / 10
}

/**
 * CPU time a process has used so far (user + system, all its threads) in
 * milliseconds, from /proc (Linux): what a run cost the server — a figure
 * that a few unlucky requests cannot decide, unlike a p99 (it still moves
 * with the machine's speed: compare builds in one session).
 */
export async function cpuMs(pid: number) {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // The fields after the command name (which may hold spaces), from the 3rd on.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND
}

/** Linux's USER_HZ, which /proc reports CPU times in (100 on every mainstream architecture). */
const CLOCK_TICKS_PER_SECOND = 100

export function spawnNode(
  args: string[],
  env: Record<string, string | undefined>,
  cwd = APP_ROOT
): ChildProcess {
  return spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env } as Record<string, string>,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
}

export function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill(signal)
  })
}

/**
 * Starts the Atrium server for a bench on `port`: production mode, the bench's
 * own embedded PostgreSQL (storage/bench-postgres, port 29403), loopback
 * upstreams allowed; `env` adds or overrides.
 */
export function startAtriumServer(
  port: number,
  env: Record<string, string | undefined> = {},
  /** Node flags after Atrium's own (the last of a flag wins): bench:memory's V8 defaults. */
  nodeArgs: string[] = []
) {
  const entry = atriumServerEntry(nodeArgs)
  return spawnNode(
    entry.args,
    {
      NODE_ENV: 'production',
      // Fixed, because the bench database persists secrets encrypted with it (bench data only).
      APP_KEY: process.env.APP_KEY ?? 'atrium-bench-only-app-key-0123456789abcdef',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      HOST: '127.0.0.1',
      ...ATRIUM_PROCESS_ENV,
      EMBEDDED_PG_PORT: '29403',
      EMBEDDED_PG_DATA: `${APP_ROOT}storage/bench-postgres/data`,
      // Fake upstreams listen on loopback, which outbound calls refuse unless allowed.
      OUTBOUND_ALLOWLIST: 'http://127.0.0.1:*',
      ...env,
    },
    entry.cwd
  )
}

/**
 * How a bench starts the Atrium server. BENCH_BUILD=1 runs the compiled
 * server of `npm run build`, as production runs it (no TypeScript loader);
 * BENCH_CPU_PROF=<dir> writes a V8 CPU profile of the server there on exit
 * (open it in Chrome DevTools or summarise it with `bench/lib/profile_summary.ts`).
 */
export function atriumServerEntry(nodeArgs: string[] = []): { args: string[]; cwd: string } {
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : []
  // As package.json's start and the Dockerfile run it (see app/platform/http_entry.ts).
  // BENCH_NODE_ARGS: Node or V8 flags for one run of any bench, after Atrium's own (so they win),
  // e.g. BENCH_NODE_ARGS=--allocation-site-pretenuring to measure V8's default against bench:gc's.
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const flags = [...profile, ...ATRIUM_NODE_FLAGS, ...extra, ...nodeArgs]
  if (!process.env.BENCH_BUILD) {
    return { args: [...flags, '--import=@poppinss/ts-exec', 'bin/server.ts'], cwd: APP_ROOT }
  }
  // Without this, a missing build surfaces as spawn's ENOENT naming the node binary, not the build.
  if (!existsSync(`${APP_ROOT}build/bin/server.js`)) {
    throw new Error(
      'BENCH_BUILD=1 runs build/bin/server.js, which is missing: run `npm run build` first'
    )
  }
  return { args: [...flags, 'bin/server.js'], cwd: `${APP_ROOT}build` }
}

/** The Node flags Atrium's server runs with in production (package.json's start, the Dockerfile). */
export const ATRIUM_NODE_FLAGS = ['--max-semi-space-size=32']

/**
 * The environment Atrium's server runs with in production (package.json's start, the
 * Dockerfile): glibc's mmap threshold fixed at 128 KiB, so the 16 MiB scrypt works the
 * login path does on the thread pool go back to the system when freed instead of
 * staying in a thread's malloc arena (see the Dockerfile).
 */
export const ATRIUM_PROCESS_ENV: Record<string, string | undefined> = {
  MALLOC_MMAP_THRESHOLD_: '131072',
}

export interface BenchSession {
  tokens: { accessToken: string; refreshToken: string }
  activeTenantId: string | null
}

/**
 * Logs in to a bench account, registering it on the first run. Benches reuse
 * one account each because registration is limited per address (10 an hour).
 */
export async function benchSession(
  base: string,
  account: { email: string; tenantName: string }
): Promise<BenchSession> {
  const credentials = { email: account.email, password: 'benchmark password 1' }
  const post = (path: string, body: object) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
  const login = await post('/api/v1/auth/login', credentials)
  if (login.ok) return (await login.json()) as BenchSession
  const registered = await post('/api/v1/auth/register', {
    ...credentials,
    name: 'Bench',
    tenantName: account.tenantName,
  })
  if (registered.status !== 201)
    throw new Error(`register answered ${registered.status}: ${await registered.text()}`)
  return (await registered.json()) as BenchSession
}
