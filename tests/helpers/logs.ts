import { readFile } from 'node:fs/promises'
import app from '@adonisjs/core/services/app'
import logger from '@adonisjs/core/services/logger'

/** Waits for a JSON log line (from the test log file) that satisfies `match`; reads at least once. */
export async function findLogLine(
  match: (line: Record<string, unknown>) => boolean,
  timeoutMs = 3000
) {
  const deadline = Date.now() + timeoutMs
  do {
    const content = await readFile(app.tmpPath('logs/test.log'), 'utf8').catch(() => '')
    for (const raw of content.split('\n')) {
      if (!raw.trim()) continue
      try {
        const line = JSON.parse(raw) as Record<string, unknown>
        if (match(line)) return line
      } catch {}
    }
    if (Date.now() >= deadline) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  } while (Date.now() < deadline)
  return null
}

export interface CapturedLine {
  level: 'warn' | 'info'
  msg: string
  [field: string]: unknown
}

/**
 * The warn and info lines the app's logger receives while a test runs (the
 * logger is put back by `cleanup`). For code that decides what to log, such
 * as failureLog's throttling.
 */
export function captureLogLines(cleanup: (callback: () => void) => void) {
  const lines: CapturedLine[] = []
  const { warn, info } = logger
  logger.warn = ((fields: object, msg: string) => {
    lines.push({ ...fields, level: 'warn', msg })
  }) as typeof logger.warn
  logger.info = ((fields: object, msg: string) => {
    lines.push({ ...fields, level: 'info', msg })
  }) as typeof logger.info
  cleanup(() => {
    logger.warn = warn
    logger.info = info
  })
  return lines
}
