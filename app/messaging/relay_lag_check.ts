import { BaseCheck, Result } from '@adonisjs/core/health'
import type { HealthCheckResult } from '@adonisjs/core/types/health'
import { outboxLag } from '#app/messaging/admin'

/**
 * Readiness sees a stalled relay as degraded (still 200: the API itself
 * works, but events — and what depends on them — are late).
 */
export class RelayLagCheck extends BaseCheck {
  name = 'Outbox relay lag'

  constructor(private warnAfterSeconds: number) {
    super()
  }

  async run(): Promise<HealthCheckResult> {
    let outbox
    try {
      outbox = await outboxLag()
    } catch (error) {
      return Result.failed('Cannot read the outbox', error as Error)
    }
    const lag = outbox.oldestPendingSeconds ?? 0
    const meta = { pending: outbox.pending, lagSeconds: lag }
    if (lag > this.warnAfterSeconds) {
      return Result.warning(
        `Oldest unrelayed event is ${lag}s old (threshold ${this.warnAfterSeconds}s)`
      ).mergeMetaData(meta)
    }
    return Result.ok(`Relay is keeping up (${outbox.pending} pending)`).mergeMetaData(meta)
  }
}
