import db from '@adonisjs/lucid/services/db'
import { events } from '#app/messaging/outbox'
import '#tests/fixtures/messaging'

/** Polls `condition` until it holds (true) or the time is up (false). */
export async function until(condition: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return true
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return false
}

export async function rowCount(table: string) {
  const [{ count }] = await db.from(table).count('* as count')
  return Number(count)
}

/** Publishes `test.transport_probe` events index from … from + count - 1, in one transaction. */
export async function publishProbeRange(from: number, count: number) {
  await db.transaction(async (trx) => {
    for (let index = from; index < from + count; index++) {
      await events.publish(trx, 'test.transport_probe', { index }, { version: 1, tenantId: null })
    }
  })
}

/**
 * Runs the local transport in this process until nothing is left to relay or
 * deliver: the saga's steps, one after another, without a worker.
 */
export async function drainBus(maxPasses = 500) {
  const { relayBatch } = await import('#app/messaging/relay')
  const { processDeliveries } = await import('#app/messaging/deliveries')
  for (let pass = 0; pass < maxPasses; pass++) {
    const relayed = await relayBatch(undefined, 500)
    const outcomes = await processDeliveries({
      batchSize: 200,
      leaseSeconds: 0,
      baseBackoffMs: 1,
      maxBackoffMs: 1,
    })
    if (relayed === 0 && outcomes.length === 0) return
  }
  throw new Error('the bus did not drain')
}

/**
 * Until a session of this database waits for a lock while running a
 * statement that starts with `statementStart` ('' for any): how a test knows
 * a request reached the row another session holds — a signal, not a sleep.
 */
export function waitingForLock(statementStart: string, timeoutMs = 10_000) {
  return until(async () => {
    const { rows } = await db.rawQuery(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE ?`,
      [`${statementStart}%`]
    )
    return rows[0].n > 0
  }, timeoutMs)
}
