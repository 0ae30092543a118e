import { readFile } from 'node:fs/promises'
import app from '@adonisjs/core/services/app'

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
