import { spawn, type ChildProcess } from 'node:child_process'
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
