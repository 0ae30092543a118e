import db from '@adonisjs/lucid/services/db'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import env from '#start/env'
import { tenancy } from '#app/tenancy/tenancy'
import { beginWithFirstStatement } from '#app/tenancy/begin_with_settings'
import { isModuleSelected } from '#app/platform/module_selection'
import { moduleOf, type Subscription } from '#app/messaging/subscribers'
import type { EventEnvelope } from '#app/messaging/types'
import { Gauge } from 'prom-client'
import { metricsRegistry } from '#app/observability/metrics'
import { batchesSplit, deliveriesTotal, handlerDuration } from '#app/messaging/metrics'
import { newId } from '#app/platform/ids'
import { NO_GROUP } from '#app/platform/turns'

export type TransportName = 'local' | 'bullmq' | 'rabbitmq' | 'kafka'

/** Whether this process consumes a subscriber's events (its module is mounted here: ATRIUM_MODULES). */
export function consumedHere(subscription: Pick<Subscription, 'subscriber'>) {
  return isModuleSelected(moduleOf(subscription.subscriber), env.get('ATRIUM_MODULES'))
}

/**
 * Runs one subscriber for one event, the same way on every transport: in the
 * event's tenant unit of work, after inserting (event, subscriber) into the
 * inbox. A duplicate delivery finds the inbox row and runs nothing. Throws
 * what the handler throws (the transaction is rolled back, inbox row included).
 */
export async function runSubscriber(
  event: EventEnvelope,
  subscription: Subscription,
  transport: TransportName
): Promise<'handled' | 'duplicate'> {
  const [outcome] = await runSubscribersTogether(
    event.tenantId,
    [{ event, subscription }],
    transport
  )
  return outcome
}

/** At most this many broker deliveries of one tenant's subscriber share a unit of work. */
const MOST_TOGETHER = 25

interface Waiting {
  delivery: BatchedDelivery
  resolve: (outcome: 'handled' | 'duplicate') => void
  reject: (error: unknown) => void
}

/**
 * How many units of work a concurrentBatches subscriber may have running at
 * once per tenant in this process, as the local transport's lanes.
 */
export const CONCURRENT_UNITS = 4

/** Per tenant and subscriber: how many units of work are running, and who waits for the next. */
interface BrokerGroup {
  waiting: Waiting[]
  running: number
}
const brokerGroups = new Map<string, BrokerGroup>()

/** Broker deliveries this process holds that wait for a unit of work, per subscriber. */
export function deliveriesWaiting() {
  const waiting = new Map<string, number>()
  for (const group of brokerGroups.values()) {
    const subscriber = group.waiting[0]?.delivery.subscription.subscriber
    if (subscriber) waiting.set(subscriber, (waiting.get(subscriber) ?? 0) + group.waiting.length)
  }
  return waiting
}

new Gauge({
  name: 'messaging_broker_deliveries_waiting',
  help: 'Broker deliveries this process holds, waiting for a unit of work of their tenant and subscriber',
  labelNames: ['subscriber'] as const,
  registers: [metricsRegistry],
  collect() {
    this.reset()
    for (const [subscriber, waiting] of deliveriesWaiting()) this.set({ subscriber }, waiting)
  },
})

/**
 * runSubscriber for broker consumers that handle several messages at once
 * (BullMQ's concurrency, RabbitMQ's prefetch). Alone, a delivery runs at
 * once; deliveries of the same tenant's subscriber that arrive while its
 * units of work run wait and go together in the next one
 * (runSubscribersTogether: one inbox insert, one commit, and one call of a
 * batch subscriber), as the local transport's batches do. If that unit
 * fails, each runs again alone, so only the one that fails rejects and its
 * broker retries it alone. Nothing waits on a timer.
 *
 * One unit of work at a time per tenant and subscriber per process, as
 * locally, so a handler's ordered row locks cannot deadlock with themselves;
 * a subscriber with `concurrentBatches` may have CONCURRENT_UNITS running,
 * so a trickle still runs at once and a burst still shares commits.
 */
export function runSubscriberGrouped(
  event: EventEnvelope,
  subscription: Subscription,
  transport: TransportName
): Promise<'handled' | 'duplicate'> {
  const key = `${event.tenantId ?? ''} ${subscription.subscriber}`
  let group = brokerGroups.get(key)
  if (!group) {
    group = { waiting: [], running: 0 }
    brokerGroups.set(key, group)
  }
  const waiting = group.waiting
  const answered = new Promise<'handled' | 'duplicate'>((resolve, reject) =>
    waiting.push({ delivery: { event, subscription }, resolve, reject })
  )
  if (group.running < (subscription.concurrentBatches ? CONCURRENT_UNITS : 1)) {
    group.running++
    void drainGroup(key, group, transport)
  }
  return answered
}

async function drainGroup(key: string, group: BrokerGroup, transport: TransportName) {
  try {
    while (group.waiting.length > 0) {
      const batch = group.waiting.splice(0, MOST_TOGETHER)
      if (batch.length > 1) {
        try {
          const outcomes = await runSubscribersTogether(
            batch[0].delivery.event.tenantId,
            batch.map((waiting) => waiting.delivery),
            transport
          )
          batch.forEach((waiting, index) => waiting.resolve(outcomes[index]))
          continue
        } catch {
          batchesSplit.inc()
        }
      }
      for (const waiting of batch) {
        try {
          waiting.resolve(
            await runSubscriber(waiting.delivery.event, waiting.delivery.subscription, transport)
          )
        } catch (error) {
          waiting.reject(error)
        }
      }
    }
  } finally {
    // Whatever happened, no delivery may wait on a group nothing drains any more.
    if (--group.running === 0) {
      brokerGroups.delete(key)
      for (const waiting of group.waiting.splice(0))
        waiting.reject(new Error('the unit of work it waited for ended abnormally'))
    }
  }
}

/** One delivery of a batch: the event and the subscription that handles it. */
export interface BatchedDelivery {
  event: EventEnvelope
  subscription: Subscription
}

/**
 * Runs several deliveries of one tenant in one unit of work: their inbox rows
 * in one insert, then each fresh one's handler in turn, then one commit. It
 * saves each delivery its own BEGIN, inbox round trip and COMMIT, which is
 * most of what a small handler costs. All or nothing: if any handler throws
 * (or the commit fails) every effect and inbox row is rolled back and this
 * throws, so the caller can run them one by one to find out which failed.
 * Outcomes are in the order given.
 */
export async function runSubscribersTogether(
  tenantId: string | null,
  deliveries: BatchedDelivery[],
  transport: TransportName
): Promise<Array<'handled' | 'duplicate'>> {
  // A batch handler writes for its batch's tenant; every caller groups by tenant, and this
  // keeps a future one from handing it another tenant's events in the wrong unit of work.
  if (deliveries.some(({ event }) => event.tenantId !== tenantId))
    throw new Error('deliveries handled together must all belong to the unit of work’s tenant')
  const outcomes = await inUnitOfWork(tenantId, async (trx) => {
    const { rows } = await trx.rawQuery(
      `INSERT INTO messaging_inbox (event_id, subscriber)
       SELECT * FROM unnest(?::uuid[], ?::text[])
       ON CONFLICT DO NOTHING
       RETURNING event_id, subscriber`,
      [
        deliveries.map(({ event }) => event.id),
        deliveries.map(({ subscription }) => subscription.subscriber),
      ]
    )
    const fresh = new Set((rows as Array<{ event_id: string; subscriber: string }>).map(inboxKey))
    const done: Array<'handled' | 'duplicate'> = []
    // Fresh deliveries in calls: one per event, or one per run of a batch subscriber's events.
    const calls: BatchedDelivery[][] = []
    for (const delivery of deliveries) {
      const { event, subscription } = delivery
      if (!fresh.has(inboxKey({ event_id: event.id, subscriber: subscription.subscriber }))) {
        done.push('duplicate')
        continue
      }
      done.push('handled')
      const last = calls.at(-1)
      if (subscription.batchHandler && last?.[0].subscription === subscription) last.push(delivery)
      else calls.push([delivery])
    }
    for (const call of calls) {
      const { subscription } = call[0]
      const started = performance.now()
      try {
        if (subscription.batchHandler)
          await subscription.batchHandler(
            call.map((delivery) => delivery.event),
            trx
          )
        else await subscription.handler(call[0].event, trx)
      } finally {
        // Per event, so a batch handler's figures compare with a per-event one's.
        const seconds = (performance.now() - started) / 1000 / call.length
        for (let index = 0; index < call.length; index++)
          handlerDuration.observe({ subscriber: subscription.subscriber }, seconds)
      }
    }
    return done
  })
  // Counted once committed: a rolled-back batch is run again one by one and counted there.
  outcomes.forEach((outcome, index) =>
    deliveriesTotal.inc({
      transport,
      subscriber: deliveries[index].subscription.subscriber,
      outcome,
    })
  )
  return outcomes
}

const inboxKey = (row: { event_id: string; subscriber: string }) =>
  `${row.event_id} ${row.subscriber}`

function inUnitOfWork<T>(
  tenantId: string | null,
  work: (trx: TransactionClientContract) => Promise<T>
) {
  // A platform event's unit of work keeps the worker's role; its BEGIN rides with the inbox insert.
  return tenantId ? tenancy.run(tenantId, work) : db.transaction(work, beginWithFirstStatement())
}

export function describeError(error: unknown) {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return message.slice(0, 2000)
}

/**
 * Records a delivery a broker transport gave up on in messaging_deliveries,
 * the one dead-letter list `bus:dead-letters` shows for every transport.
 * `bus:replay` sets it back to pending and the PostgreSQL delivery loop of a
 * process mounting the subscriber runs it (through the inbox, so still once).
 */
export async function recordDeadLetter(
  event: Pick<EventEnvelope, 'id' | 'tenantId'>,
  subscriber: string,
  failure: { attempts: number; error: unknown; transport: TransportName }
) {
  await db
    .table('messaging_deliveries')
    .insert({
      id: newId(),
      event_id: event.id,
      tenant_id: event.tenantId ?? NO_GROUP,
      subscriber,
      state: 'dead',
      attempts: failure.attempts,
      last_error: describeError(failure.error),
      transport: failure.transport,
    })
    .onConflict(['event_id', 'subscriber'])
    .merge(['state', 'attempts', 'last_error', 'transport'])
  deliveriesTotal.inc({ transport: failure.transport, subscriber, outcome: 'dead' })
}

/** Counts a failed attempt that will be retried. */
export function countRetry(subscriber: string, transport: TransportName) {
  deliveriesTotal.inc({ transport, subscriber, outcome: 'retry' })
}

export { backoffMs } from '#app/platform/job_queue'
