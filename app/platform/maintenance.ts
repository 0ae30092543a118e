import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'

export interface MaintenanceTask {
  name: string
  /** Deletes what is no longer needed; returns how many rows went. */
  run(): Promise<number>
}

const tasks = new Map<string, MaintenanceTask>()

/** Modules register their own purges (from subscribers.ts, which the worker loads). */
export function registerMaintenance(task: MaintenanceTask) {
  tasks.set(task.name, task)
}

/** How long handled events and their inbox rows are kept (redeliveries older than this cannot happen). */
export const MESSAGE_RETENTION_DAYS = 7

registerMaintenance({
  name: 'idempotency_keys',
  async run() {
    return Number(
      await db.from('idempotency_keys').where('expires_at', '<', db.raw('now()')).delete()
    )
  },
})

registerMaintenance({
  name: 'rate_limits',
  async run() {
    // The limiter stores `expire` as epoch milliseconds.
    return Number(
      await db
        .from('rate_limits')
        .whereNotNull('expire')
        .where('expire', '<', db.raw('(extract(epoch FROM now()) * 1000)::bigint'))
        .delete()
    )
  },
})

registerMaintenance({
  name: 'messaging',
  async run() {
    const retention = db.raw(`now() - make_interval(days => ?)`, [MESSAGE_RETENTION_DAYS])
    const inbox = await db.from('messaging_inbox').where('handled_at', '<', retention).delete()
    // Deliveries go with their event (ON DELETE CASCADE); events with a dead letter are kept for replay.
    const events = await db
      .from('messaging_outbox')
      .whereNotNull('dispatched_at')
      .where('dispatched_at', '<', retention)
      .whereNotExists((query) =>
        query
          .from('messaging_deliveries')
          .whereColumn('messaging_deliveries.event_id', 'messaging_outbox.id')
          .whereNot('state', 'done')
      )
      .delete()
    return Number(inbox) + Number(events)
  },
})

/**
 * Runs every registered task, in one process at a time (advisory lock), and
 * reports what each removed. A failing task does not stop the others.
 */
export async function runMaintenance(): Promise<Record<string, number> | null> {
  return db.transaction(async (trx) => {
    const { rows } = await trx.rawQuery('SELECT pg_try_advisory_xact_lock(hashtext(?)) AS locked', [
      'atrium_maintenance',
    ])
    if (!rows[0].locked) return null
    const removed: Record<string, number> = {}
    for (const task of tasks.values()) {
      try {
        removed[task.name] = await task.run()
      } catch (error) {
        logger.error({ err: error, task: task.name }, 'maintenance task failed')
      }
    }
    return removed
  })
}
