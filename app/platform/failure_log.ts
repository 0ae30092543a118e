import logger from '@adonisjs/core/services/logger'

/**
 * The log lines of something that can fail on every tick of a hot path — a
 * store that went away while hundreds of streams write to it. One line per
 * failure would cost the process its CPU, and the bounded log its other
 * lines, just when something is wrong. So: the first failure is logged, the
 * ones after it within `everyMs` are counted into the next line
 * (`failedSinceLastLine`), and the first success after a failure says so
 * once, with the count.
 */
export function failureLog(options: {
  failed: string
  recovered: string
  everyMs?: number
  /** The clock, in milliseconds (tests pass their own). */
  now?: () => number
}) {
  const everyMs = options.everyMs ?? 10_000
  const clock = options.now ?? (() => performance.now())
  let failing = false
  let lastLoggedAt = Number.NEGATIVE_INFINITY
  let unlogged = 0
  return {
    failed(error: unknown, fields: Record<string, unknown> = {}) {
      failing = true
      const now = clock()
      if (now - lastLoggedAt < everyMs) {
        unlogged++
        return
      }
      logger.warn({ ...fields, err: error, failedSinceLastLine: unlogged }, options.failed)
      lastLoggedAt = now
      unlogged = 0
    },
    succeeded() {
      if (!failing) return
      logger.info({ failedSinceLastLine: unlogged }, options.recovered)
      failing = false
      lastLoggedAt = Number.NEGATIVE_INFINITY
      unlogged = 0
    },
  }
}
