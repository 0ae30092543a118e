import db from '@adonisjs/lucid/services/db'
import { DELIVERIES_CHANNEL } from '#app/messaging/relay'

export interface BusStatus {
  outbox: { pending: number; oldestPendingSeconds: number | null; delayed: number }
  /** PostgreSQL deliveries (local transport, replays) and every transport's dead letters. */
  subscribers: Array<{ subscriber: string; pending: number; dead: number; done: number }>
}

/**
 * The outbox side only: what readiness and the metrics need on every probe
 * and scrape. It reads just the undispatched rows (partial index).
 */
export async function outboxLag(): Promise<BusStatus['outbox']> {
  const { rows } = await db.rawQuery(
    `SELECT count(*) FILTER (WHERE available_at <= now())::int AS pending,
            count(*) FILTER (WHERE available_at > now())::int AS delayed,
            extract(epoch FROM now() - min(available_at) FILTER (WHERE available_at <= now()))::float AS oldest
       FROM messaging_outbox WHERE dispatched_at IS NULL`
  )
  return {
    pending: rows[0].pending,
    delayed: rows[0].delayed,
    oldestPendingSeconds: rows[0].oldest === null ? null : Math.round(rows[0].oldest * 10) / 10,
  }
}

/** What `bus:status` reports: the outbox, and deliveries per subscriber. */
export async function busStatus(): Promise<BusStatus> {
  const { rows: subscribers } = await db.rawQuery(
    `SELECT subscriber,
            count(*) FILTER (WHERE state = 'pending')::int AS pending,
            count(*) FILTER (WHERE state = 'dead')::int AS dead,
            count(*) FILTER (WHERE state = 'done')::int AS done
       FROM messaging_deliveries GROUP BY subscriber ORDER BY subscriber`
  )
  return { outbox: await outboxLag(), subscribers }
}

export interface DeadLetter {
  deliveryId: string
  eventId: string
  type: string
  subscriber: string
  attempts: number
  lastError: string | null
  tenantId: string | null
  occurredAt: string
}

export async function deadLetters(
  options: { subscriber?: string; limit?: number } = {}
): Promise<DeadLetter[]> {
  const query = db
    .from('messaging_deliveries as d')
    .join('messaging_outbox as o', 'o.id', 'd.event_id')
    .where('d.state', 'dead')
    .orderBy('d.created_at', 'asc')
    .limit(options.limit ?? 50)
    .select(
      'd.id',
      'd.event_id',
      'o.type',
      'd.subscriber',
      'd.attempts',
      'd.last_error',
      'o.tenant_id',
      'o.occurred_at'
    )
  if (options.subscriber) query.where('d.subscriber', options.subscriber)
  const rows = await query
  return rows.map((row) => ({
    deliveryId: row.id,
    eventId: row.event_id,
    type: row.type,
    subscriber: row.subscriber,
    attempts: row.attempts,
    lastError: row.last_error,
    tenantId: row.tenant_id,
    occurredAt: new Date(row.occurred_at).toISOString(),
  }))
}

/**
 * Puts dead letters back in line with a fresh attempt budget (after the bug
 * that killed them is fixed). By delivery id, or all of them, optionally for
 * one subscriber. Returns how many were replayed.
 */
export async function replayDeadLetters(target: {
  deliveryId?: string
  all?: boolean
  subscriber?: string
}) {
  if (!target.deliveryId && !target.all) throw new Error('Name a delivery id, or ask for all')
  const query = db.from('messaging_deliveries').where('state', 'dead')
  if (target.deliveryId) query.where('id', target.deliveryId)
  if (target.subscriber) query.where('subscriber', target.subscriber)
  const replayed = await query.update({
    state: 'pending',
    attempts: 0,
    available_at: db.raw('now()'),
    last_error: null,
  })
  await db.rawQuery('SELECT pg_notify(?, ?)', [DELIVERIES_CHANNEL, ''])
  return Number(replayed)
}
