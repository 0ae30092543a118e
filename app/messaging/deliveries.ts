import db from '@adonisjs/lucid/services/db'
import { allSubscriptions, subscription } from '#app/messaging/subscribers'
import { toEnvelope, type OutboxRow } from '#app/messaging/relay'
import { deliveriesTotal } from '#app/messaging/metrics'
import { jobQueue } from '#app/platform/job_queue'
import { consumedHere, countRetry, describeError, runSubscriber } from '#app/messaging/handling'

export interface DeliveryOptions {
  batchSize?: number
  /** Handlers run at once (each in its own transaction); default 4. */
  concurrency?: number
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

export type DeliveryOutcome = 'handled' | 'duplicate' | 'retry' | 'dead'

/**
 * Processes due deliveries of the subscribers this process consumes: claims a
 * batch by leasing it (a short committed UPDATE … SKIP LOCKED, so no
 * transaction stays open while handlers run), then runs each through
 * runSubscriber (inbox + tenant unit of work). A failed handler is retried
 * with exponential backoff; after its subscription's maxAttempts it is a dead
 * letter. Returns the outcomes.
 */
export async function processDeliveries(options: DeliveryOptions = {}): Promise<DeliveryOutcome[]> {
  const consumed = allSubscriptions()
    .filter(consumedHere)
    .map((entry) => entry.subscriber)
  if (consumed.length === 0) return []
  const claimed = await claim(consumed, options.batchSize ?? 50, options.leaseSeconds ?? 60)
  const outcomes: DeliveryOutcome[] = []
  const settled: string[] = []
  // A few handlers at once: most wait on the database, and the pool has room.
  let next = 0
  const lane = async () => {
    while (next < claimed.length) {
      const delivery = claimed[next++]
      const outcome = await handle(delivery, options)
      outcomes.push(outcome)
      if (outcome === 'handled' || outcome === 'duplicate') settled.push(delivery.delivery_id)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, lane))
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

/** messaging_deliveries: one row per (event, subscriber), written with the event by the outbox. */
export const deliveryQueue = jobQueue({
  table: 'messaging_deliveries',
  dueColumn: 'available_at',
  stateColumn: 'state',
  states: { claimable: ['pending'], pending: 'pending', dead: 'dead' },
  // Each subscription has its own limit; see handle().
  maxAttempts: 10,
  backoff: { baseMs: 1000, maxMs: 5 * 60 * 1000 },
})

function claim(subscribers: string[], batchSize: number, leaseSeconds: number) {
  return deliveryQueue.claim<ClaimedDelivery>({
    limit: batchSize,
    leaseSeconds,
    where: { sql: 't.subscriber = ANY(?)', bindings: [subscribers] },
    join: { from: 'messaging_outbox o', on: 'o.id = t.event_id' },
    returning: `t.id AS delivery_id, t.subscriber, t.attempts,
               o.id, o.type, o.version, o.tenant_id, o.aggregate_id, o.payload, o.occurred_at`,
  })
}

async function handle(
  delivery: ClaimedDelivery,
  options: DeliveryOptions
): Promise<DeliveryOutcome> {
  // Claimed by name from the registry, so it is registered here.
  const registered = subscription(delivery.subscriber)!
  try {
    return await runSubscriber(toEnvelope(delivery), registered, 'local')
  } catch (error) {
    const outcome = await deliveryQueue.fail(
      { id: delivery.delivery_id, attempts: delivery.attempts },
      { last_error: describeError(error) },
      {
        maxAttempts: registered.maxAttempts,
        backoff: { baseMs: options.baseBackoffMs, maxMs: options.maxBackoffMs },
      }
    )
    const dead = outcome === 'dead'
    if (dead)
      deliveriesTotal.inc({ transport: 'local', subscriber: delivery.subscriber, outcome: 'dead' })
    else countRetry(delivery.subscriber, 'local')
    return dead ? 'dead' : 'retry'
  }
}
