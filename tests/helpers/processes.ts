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
