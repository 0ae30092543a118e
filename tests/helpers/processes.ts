import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const APP_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface Finished {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Environment for a child Atrium process: ours, minus what the test wants unset. */
export function childEnv(overrides: Record<string, string | undefined>) {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...process.env, ...overrides })) {
    if (value !== undefined) env[key] = value
  }
  return env
}

/** Runs a TypeScript entry point of this app under the same Node, through ts-exec. */
export function startNode(
  args: string[],
  env: Record<string, string>,
  cwd = APP_ROOT
): ChildProcess {
  return spawn(process.execPath, ['--import=@poppinss/ts-exec', ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
}

export function finished(child: ChildProcess, timeoutMs = 60_000): Promise<Finished> {
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`process did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`))
    }, timeoutMs)
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

export function runNode(
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs?: number; cwd?: string } = {}
) {
  return finished(startNode(args, env, options.cwd), options.timeoutMs)
}

/** Resolves with the first stdout line matching `pattern`. */
export function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
  timeoutMs = 60_000
): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = ''
    const timer = setTimeout(
      () => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms:\n${buffer}`)),
      timeoutMs
    )
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString()
      const line = buffer.split('\n').find((candidate) => pattern.test(candidate))
      if (line) {
        clearTimeout(timer)
        child.stdout?.off('data', onData)
        resolve(line)
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (chunk: Buffer) => (buffer += chunk.toString()))
    child.once('close', () => {
      clearTimeout(timer)
      reject(new Error(`process exited before printing ${pattern}:\n${buffer}`))
    })
  })
}

/** A second into the minute after `now`: a quota clock set there has most of a minute in one window. */
export function justAfterNextMinute(now: number) {
  return (Math.floor(now / 60_000) + 1) * 60_000 + 1000
}

/**
 * Fixed quota windows: a burst must not straddle a minute boundary. Instead
 * of waiting for a minute to begin, a server's clock is set to just after one
 * (ATRIUM_TEST_CLOCK_OFFSET_MS): the burst has most of a minute.
 */
export function minuteStartOffset() {
  const now = Date.now()
  return String(justAfterNextMinute(now) - now)
}

export interface ServerProcess {
  url: string
  child: ChildProcess
  done: Promise<Finished>
}

/**
 * A real Atrium server process (the HTTP entry point plus the test fixture
 * routes) on `port`, sharing this run's database and Redis; resolves once it
 * says it is up. Its clock starts just after a minute begins.
 */
export async function startServerProcess(
  port: number,
  env: Record<string, string | undefined>
): Promise<ServerProcess> {
  const child = startNode(
    ['tests/fixtures/server.ts'],
    childEnv({
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ATRIUM_TEST_CLOCK_OFFSET_MS: minuteStartOffset(),
      ...env,
    })
  )
  const done = finished(child, 120_000)
  await waitForLine(child, /Atrium is up/)
  return { url: `http://127.0.0.1:${port}`, child, done }
}

/** Stops server processes gracefully and waits for them to exit. */
export async function stopServerProcesses(servers: ServerProcess[]) {
  for (const server of servers) server.child.kill('SIGINT')
  return Promise.all(servers.map((server) => server.done.catch(() => null)))
}
