import db from '@adonisjs/lucid/services/db'
import { allSubscriptions, subscription } from '#app/messaging/subscribers'
import {
  RELAY_BATCH_SIZE,
  toEnvelope,
  type LeasedDelivery,
  type OutboxRow,
} from '#app/messaging/relay'
import { batchesSplit, deliveriesTotal } from '#app/messaging/metrics'
import { jobQueue, millisecondsOrNull, preparedRaw } from '#app/platform/job_queue'
import { lastTurnServed, NO_GROUP } from '#app/platform/turns'
import {
  consumedHere,
  countRetry,
  describeError,
  runSubscriber,
  runSubscribersTogether,
} from '#app/messaging/handling'

export interface DeliveryOptions {
  batchSize?: number
  /** Handlers run at once, each lane on its own connection; default 4. */
  concurrency?: number
  /**
   * At most this many deliveries of one tenant and subscriber are handled in
   * one transaction (default 25); 1 gives each delivery its own.
   */
  perTransaction?: number
  /** How long a claimed delivery is hidden from other workers; a crashed worker's claims come back after it. */
  leaseSeconds?: number
  /** First retry delay; doubles per attempt up to maxBackoffMs. */
  baseBackoffMs?: number
  maxBackoffMs?: number
}

/** What a claim returns: a delivery, and its event's outbox row. */
interface ClaimedRow extends OutboxRow {
  delivery_id: string
  subscriber: string
  attempts: number
  turn: string
}

/**
 * Deliveries a pass claims at most, unless DeliveryOptions.batchSize says
 * otherwise: what one relay batch writes for a subscriber, so the pass that
 * relayed a burst handles it in one claim — four units of work of 25, one per
 * lane. It was 50, and the benches ran 100: a burst of 100 events took the
 * worker two passes per saga step in production but one in the bench.
 */
export const DEFAULT_CLAIM_SIZE = RELAY_BATCH_SIZE

export type DeliveryOutcome = 'handled' | 'duplicate' | 'retry' | 'dead'

/**
 * Processes due deliveries of the subscribers this process consumes: claims a
 * batch by leasing it (a short committed UPDATE … SKIP LOCKED, so no
 * transaction stays open while handlers run), then handles it in tenant and
 * subscriber groups, a group's deliveries together in one unit of work
 * (runSubscribersTogether) — oldest event first. A group that fails is rolled
 * back and handled again one delivery per unit of work (runSubscriber), so
 * only the delivery that fails is retried, with exponential backoff, and
 * after its subscription's maxAttempts is a dead letter. Returns the outcomes.
 *
 * `handed` are deliveries the relay pass before this one wrote already leased
 * to this process (relay.ts' Handoff): they are handled with the claimed
 * ones, and when `claim` is false (the worker decides; see #deliverEvents)
 * they are the whole pass, which then costs no claim.
 */
export async function processDeliveries(
  options: DeliveryOptions = {},
  handed: { deliveries: LeasedDelivery[]; claim: boolean } = { deliveries: [], claim: true }
): Promise<DeliveryOutcome[]> {
  const consumed = allSubscriptions()
    .filter(consumedHere)
    .map((entry) => entry.subscriber)
  if (consumed.length === 0) return []
  const claimed = handed.claim
    ? await claim(consumed, options.batchSize ?? DEFAULT_CLAIM_SIZE, options.leaseSeconds ?? 60)
    : []
  // A handed delivery whose lease ran out before the claim was claimed again: handled once.
  const handedIds = new Set(handed.deliveries.map((delivery) => delivery.deliveryId))
  const leased = [
    ...handed.deliveries,
    ...claimed.filter((delivery) => !handedIds.has(delivery.deliveryId)),
  ]
  const outcomes: DeliveryOutcome[] = []
  const duplicates: string[] = []
  const perTransaction = Math.max(1, options.perTransaction ?? 25)
  // What a lane takes at a time: a group's batches one after another, so one subscriber's
  // transactions in one tenant never run at once here (a handler's ordered row locks, like a
  // reservation's SKUs, stay ordered and its batches cannot deadlock each other) — or, for a
  // subscriber with concurrentBatches, each batch on its own.
  const work: LeasedDelivery[][][] = []
  for (const group of groupBy(
    leased,
    (delivery) => `${delivery.event.tenantId} ${delivery.subscriber}`
  ).values()) {
    group.sort(oldestFirst)
    const batches: LeasedDelivery[][] = []
    for (let start = 0; start < group.length; start += perTransaction)
      batches.push(group.slice(start, start + perTransaction))
    if (subscription(group[0].subscriber)!.concurrentBatches)
      work.push(...batches.map((batch) => [batch]))
    else work.push(batches)
  }
  let next = 0
  const lane = async () => {
    while (next < work.length) {
      for (const together of work[next++]) {
        const results = await handleTogether(together, options)
        results.forEach((outcome, index) => {
          outcomes.push(outcome)
          if (outcome === 'duplicate') duplicates.push(together[index].deliveryId)
        })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, lane))
  // A handled delivery was settled by its own unit of work: the inbox insert's trigger marks it
  // done (migration 0010). A duplicate wrote no inbox row, so it is settled here — a redelivery,
  // rare; a crash before this only brings it back once more after its lease.
  if (duplicates.length) {
    await db
      .from('messaging_deliveries')
      .whereIn('id', duplicates)
      .update({ state: 'done', handled_at: db.raw('now()'), last_error: null })
  }
  return outcomes
}

function groupBy<T>(items: T[], keyOf: (item: T) => string) {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const key = keyOf(item)
    const group = groups.get(key)
    if (group) group.push(item)
    else groups.set(key, [item])
  }
  return groups
}

function oldestFirst(a: LeasedDelivery, b: LeasedDelivery) {
  return (
    Date.parse(a.event.occurredAt) - Date.parse(b.event.occurredAt) ||
    (a.event.id < b.event.id ? -1 : a.event.id > b.event.id ? 1 : 0)
  )
}

/**
 * Deliveries of one tenant and subscriber in one unit of work; if that fails
 * (a handler threw, a deadlock, the commit), nothing of it stayed, and each is
 * handled again on its own so the failure lands on the delivery that caused it.
 */
async function handleTogether(
  deliveries: LeasedDelivery[],
  options: DeliveryOptions
): Promise<DeliveryOutcome[]> {
  if (deliveries.length > 1) {
    try {
      return await runSubscribersTogether(
        deliveries[0].event.tenantId,
        deliveries.map((delivery) => ({
          event: delivery.event,
          // Claimed by name from the registry, so it is registered here.
          subscription: subscription(delivery.subscriber)!,
        })),
        'local'
      )
    } catch {
      batchesSplit.inc()
    }
  }
  const outcomes: DeliveryOutcome[] = []
  for (const delivery of deliveries) outcomes.push(await handle(delivery, options))
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

/**
 * Milliseconds until the events loop has work by time alone — an outbox
 * event to relay (a delayed one) or a delivery of a subscriber this process
 * consumes (a retry's backoff, a lapsed lease); null when neither waits. One
 * prepared statement for both: the loop asks each time it goes idle, which
 * under a steady stream is once per event, and two questions were two round
 * trips and two of the eleven statements an event cost (bench:bus).
 */
export async function eventsNextDueMs(): Promise<number | null> {
  const consumed = allSubscriptions()
    .filter(consumedHere)
    .map((entry) => entry.subscriber)
  const { rows } = await preparedRaw(
    db.connection(),
    // least() skips a NULL: the answer is null only when neither table has anything waiting.
    // 'pending' is deliveryQueue's claimable state, written out as its own claims write it.
    `SELECT (extract(epoch FROM least(
         (SELECT min(o.available_at) FROM messaging_outbox o WHERE o.dispatched_at IS NULL),
         (SELECT min(t.available_at) FROM messaging_deliveries t
           WHERE t.state IN ('pending') AND t.subscriber = ANY(?))
       ) - now()) * 1000)::float8 AS ms`,
    [consumed]
  )
  return millisecondsOrNull(rows[0]?.ms)
}

/** Where this process's next claim starts in the tenants' turns. */
let lastTenantServed = NO_GROUP

/**
 * Tenants take turns: a claim takes a share of each tenant's oldest due
 * deliveries, so one tenant's burst never holds the others back behind it.
 */
async function claim(subscribers: string[], batchSize: number, leaseSeconds: number) {
  const claimed = await deliveryQueue.claim<ClaimedRow>({
    limit: batchSize,
    leaseSeconds,
    // A lease only: lost in a crash, the deliveries are claimable again (the inbox keeps them once).
    commitWithoutFlush: true,
    // Every pass of the event loop makes it.
    prepared: true,
    where: { sql: 't.subscriber = ANY(?)', bindings: [subscribers] },
    turnsBy: { column: 'tenant_id', after: lastTenantServed },
    join: { from: 'messaging_outbox o', on: 'o.id = t.event_id' },
    returning: `t.id AS delivery_id, t.subscriber, t.attempts, t.tenant_id AS turn,
               o.id, o.type, o.version, o.tenant_id, o.aggregate_id, o.payload, o.occurred_at`,
  })
  lastTenantServed = lastTurnServed(
    claimed.map((row) => row.turn),
    lastTenantServed
  )
  return claimed.map((row): LeasedDelivery => ({
    deliveryId: row.delivery_id,
    subscriber: row.subscriber,
    attempts: row.attempts,
    event: toEnvelope(row),
  }))
}

async function handle(
  delivery: LeasedDelivery,
  options: DeliveryOptions
): Promise<DeliveryOutcome> {
  // Claimed by name from the registry, so it is registered here.
  const registered = subscription(delivery.subscriber)!
  try {
    return await runSubscriber(delivery.event, registered, 'local')
  } catch (error) {
    const outcome = await deliveryQueue.fail(
      { id: delivery.deliveryId, attempts: delivery.attempts },
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
