import db from '@adonisjs/lucid/services/db'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { tenancy } from '#app/tenancy/tenancy'
import { subscription } from '#app/messaging/subscribers'
import { toEnvelope, type OutboxRow } from '#app/messaging/relay'
import { deliveriesTotal, handlerDuration } from '#app/messaging/metrics'

export interface DeliveryOptions {
  batchSize?: number
  /** How long a claimed delivery is hidden from other workers; a crashed worker's claims come back after it. */
  leaseSeconds?: number
  /** First retry delay; doubles per attempt up to maxBackoffMs. */
  baseBackoffMs?: number
  maxBackoffMs?: number
}

interface ClaimedDelivery extends OutboxRow {
  delivery_id: string
  subscriber: string
  attempts: number
}

export type DeliveryOutcome = 'handled' | 'duplicate' | 'retry' | 'dead' | 'orphaned'

/**
 * Processes due deliveries: claims a batch by leasing it (a short committed
 * UPDATE … SKIP LOCKED, so no transaction stays open while handlers run), then
 * runs each handler in the event's tenant unit of work together with the inbox
 * insert. A failed handler is retried with exponential backoff; after its
 * subscription's maxAttempts it is a dead letter. Returns the outcomes.
 */
export async function processDeliveries(options: DeliveryOptions = {}): Promise<DeliveryOutcome[]> {
  const claimed = await claim(options.batchSize ?? 50, options.leaseSeconds ?? 60)
  const outcomes: DeliveryOutcome[] = []
  const settled: string[] = []
  for (const delivery of claimed) {
    const stopTimer = handlerDuration.startTimer({ subscriber: delivery.subscriber })
    const outcome = await handle(delivery, options)
    stopTimer()
    deliveriesTotal.inc({ transport: 'local', subscriber: delivery.subscriber, outcome })
    outcomes.push(outcome)
    if (outcome === 'handled' || outcome === 'duplicate') settled.push(delivery.delivery_id)
  }
  // One commit marks the whole batch done. A crash before it only means
  // redelivery after the lease, which the inbox turns into a no-op.
  if (settled.length) {
    await db
      .from('messaging_deliveries')
      .whereIn('id', settled)
      .update({ state: 'done', handled_at: db.raw('now()'), last_error: null })
  }
  return outcomes
}

async function claim(batchSize: number, leaseSeconds: number): Promise<ClaimedDelivery[]> {
  const { rows } = await db.rawQuery(
    `WITH due AS (
       SELECT id FROM messaging_deliveries
        WHERE state = 'pending' AND available_at <= now()
        ORDER BY available_at, id
        LIMIT ?
        FOR UPDATE SKIP LOCKED
     )
     UPDATE messaging_deliveries d
        SET attempts = d.attempts + 1, available_at = now() + make_interval(secs => ?)
       FROM due, messaging_outbox o
      WHERE d.id = due.id AND o.id = d.event_id
     RETURNING d.id AS delivery_id, d.subscriber, d.attempts,
               o.id, o.type, o.version, o.tenant_id, o.aggregate_id, o.payload, o.occurred_at`,
    [batchSize, leaseSeconds]
  )
  return rows
}

async function handle(
  delivery: ClaimedDelivery,
  options: DeliveryOptions
): Promise<DeliveryOutcome> {
  const registered = subscription(delivery.subscriber)
  if (!registered) {
    // Its subscriber is not mounted in this process (split deployment or renamed): leave it for one that is.
    return 'orphaned'
  }
  const event = toEnvelope(delivery)
  try {
    const handled = await inUnitOfWork(event.tenantId, async (trx) => {
      const { rows } = await trx.rawQuery(
        `INSERT INTO messaging_inbox (event_id, subscriber) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING event_id`,
        [event.id, delivery.subscriber]
      )
      if (rows.length === 0) return false
      await registered.handler(event, trx)
      return true
    })
    return handled ? 'handled' : 'duplicate'
  } catch (error) {
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    const dead = delivery.attempts >= registered.maxAttempts
    await db
      .from('messaging_deliveries')
      .where('id', delivery.delivery_id)
      .update({
        state: dead ? 'dead' : 'pending',
        last_error: message.slice(0, 2000),
        available_at: db.raw(`now() + make_interval(secs => ?)`, [
          backoffSeconds(delivery.attempts, options),
        ]),
      })
    return dead ? 'dead' : 'retry'
  }
}

function inUnitOfWork<T>(
  tenantId: string | null,
  work: (trx: TransactionClientContract) => Promise<T>
) {
  return tenantId ? tenancy.run(tenantId, work) : db.transaction(work)
}

/** Exponential backoff with ±20% jitter, so failing deliveries do not retry in lockstep. */
export function backoffSeconds(attempts: number, options: DeliveryOptions = {}) {
  const base = options.baseBackoffMs ?? 1000
  const cap = options.maxBackoffMs ?? 5 * 60 * 1000
  const delay = Math.min(cap, base * 2 ** Math.max(0, attempts - 1))
  return (delay * (0.8 + Math.random() * 0.4)) / 1000
}
