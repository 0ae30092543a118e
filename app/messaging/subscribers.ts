import type { BatchEventHandler, EventHandler, EventType } from '#app/messaging/types'

export interface Subscription {
  type: EventType
  /** Unique, stable name: `<module>.<what it does>`; the inbox and deliveries are keyed by it. */
  subscriber: string
  handler: EventHandler<EventType>
  /** Set by subscribeBatch: takes a batch's events in one call (handler then runs it with one). */
  batchHandler?: BatchEventHandler<EventType>
  maxAttempts: number
  /** Its batches in one tenant may run at once (see subscribe()). */
  concurrentBatches: boolean
}

const subscriptions = new Map<string, Subscription>()

export const DEFAULT_MAX_ATTEMPTS = 8

interface SubscribeOptions {
  maxAttempts?: number
  /**
   * The local transport handles a tenant's deliveries of a subscriber in
   * batches, one transaction each, and by default one batch at a time per
   * process: a handler that locks several rows in a fixed order (a
   * reservation's SKUs) stays deadlock-free only if no two of its batches
   * interleave. A handler that locks at most one row of its own (or none)
   * can say so here and have its batches run side by side.
   */
  concurrentBatches?: boolean
}

/**
 * Registers a handler (modules call this from subscribers.ts). The handler
 * runs in the event's tenant unit of work with the inbox insert, so its
 * database effects happen exactly once however often the event arrives.
 */
export function subscribe<T extends EventType>(
  type: T,
  subscriber: string,
  handler: EventHandler<T>,
  options: SubscribeOptions = {}
) {
  register(type, subscriber, { handler: handler as EventHandler<EventType> }, options)
}

/**
 * subscribe() for a handler that does set-based work: it is called once per
 * batch with the fresh events of one tenant (oldest first, duplicates already
 * left out by the inbox), in the batch's unit of work, instead of once per
 * event — one statement for a batch's rows instead of one per event on a hot
 * path. Same guarantees: if it throws, the batch is rolled back and its
 * events are handled again one per call, so the failure lands on the event
 * that causes it. A batch may hold a single event (a redelivery, a split).
 */
export function subscribeBatch<T extends EventType>(
  type: T,
  subscriber: string,
  handler: BatchEventHandler<T>,
  options: SubscribeOptions = {}
) {
  const batchHandler = handler as BatchEventHandler<EventType>
  register(
    type,
    subscriber,
    { handler: (event, trx) => batchHandler([event], trx), batchHandler },
    options
  )
}

function register(
  type: EventType,
  subscriber: string,
  handlers: Pick<Subscription, 'handler' | 'batchHandler'>,
  options: SubscribeOptions
) {
  if (!/^[a-z][a-z0-9_]*\.[a-z0-9_.]+$/.test(subscriber)) {
    throw new Error(`Subscriber names look like "module.what_it_does", got "${subscriber}"`)
  }
  const existing = subscriptions.get(subscriber)
  if (existing && existing.type !== type) {
    throw new Error(`Subscriber ${subscriber} is already registered for ${existing.type}`)
  }
  subscriptions.set(subscriber, {
    type,
    subscriber,
    ...handlers,
    maxAttempts: options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS,
    concurrentBatches: options.concurrentBatches ?? false,
  })
}

/** The module a subscriber belongs to: the part of its name before the first dot. */
export function moduleOf(subscriber: string) {
  return subscriber.slice(0, subscriber.indexOf('.'))
}

/** Every subscriber of a type, in every module (the relay's routing table), or only those `where` accepts. */
export function subscribersOf(
  type: string,
  where: (entry: Subscription) => boolean = () => true
): Subscription[] {
  return [...subscriptions.values()].filter((entry) => entry.type === type && where(entry))
}

export function allSubscriptions(): Subscription[] {
  return [...subscriptions.values()]
}

export function subscription(subscriber: string) {
  return subscriptions.get(subscriber)
}

/** Tests only: forget a registration. */
export function unsubscribe(subscriber: string) {
  subscriptions.delete(subscriber)
}
