import db from '@adonisjs/lucid/services/db'
import { deliveriesTotal } from '#app/messaging/metrics'
import { subscribe, unsubscribe } from '#app/messaging/subscribers'
import type { EventEnvelope } from '#app/messaging/types'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { newId } from '#app/platform/ids'
import '#tests/fixtures/messaging'

/*
 * The messaging tests' shared harness: an empty bus, a module of their own,
 * and a probe subscriber recording each handled `test.transport_probe` event
 * as a row, so "every effect exactly once" is a count and a uniqueness check
 * in PostgreSQL rather than in memory.
 */

/** Empties the outbox, the deliveries and the inbox. */
export async function resetBus() {
  await db.rawQuery(`TRUNCATE messaging_inbox, messaging_deliveries, messaging_outbox CASCADE`)
}

/** A module name of its own per test: broker queues, groups and consumers never carry over. */
export function freshModule() {
  return `t${newId().replaceAll('-', '').slice(-10)}`
}

export interface ProbeRecorder {
  subscriber: string
  /** Rows recorded so far (one per handled event). */
  count(): Promise<number>
  rows(): Promise<Array<{ event_id: string; index: number; subscriber: string }>>
  /** Unsubscribes (the table stays until the next recorder empties it). */
  stop(): void
}

/**
 * Subscribes `subscriber` to `test.transport_probe`, recording every handled
 * event in `table` (created anew). `before` runs first in
 * the handler: throw there to fail an attempt.
 */
export async function recordProbes(
  table: string,
  subscriber: string,
  options: {
    before?: (event: EventEnvelope<'test.transport_probe'>) => void | Promise<void>
    maxAttempts?: number
    /** With a primary key on event_id a duplicate effect fails loudly; without, it is counted. */
    uniqueEvents?: boolean
  } = {}
): Promise<ProbeRecorder> {
  const key = options.uniqueEvents === false ? '' : ' PRIMARY KEY'
  // Recreated, not emptied: its shape is this helper's, whatever an older run left.
  await db.rawQuery(`DROP TABLE IF EXISTS ${table}`)
  await db.rawQuery(
    `CREATE TABLE ${table} (event_id uuid NOT NULL${key}, subscriber text NOT NULL, index int NOT NULL)`
  )
  subscribe(
    'test.transport_probe',
    subscriber,
    async (event, trx: TransactionClientContract) => {
      await options.before?.(event)
      await trx.table(table).insert({ event_id: event.id, subscriber, index: event.payload.index })
    },
    options.maxAttempts ? { maxAttempts: options.maxAttempts } : undefined
  )
  return {
    subscriber,
    async count() {
      const [{ count }] = await db.from(table).count('* as count')
      return Number(count)
    },
    rows: () => db.from(table).select('event_id', 'index', 'subscriber').orderBy('index'),
    stop: () => unsubscribe(subscriber),
  }
}

/**
 * How this process's handlers ended for a subscriber, from the delivery
 * metric: the signal to wait for instead of sleeping ("the duplicate was seen
 * and dropped" is `duplicate` going up).
 */
export async function outcomesOf(subscriber: string) {
  const counts = { handled: 0, duplicate: 0, retry: 0, dead: 0 }
  const { values } = await deliveriesTotal.get()
  for (const sample of values) {
    if (sample.labels.subscriber !== subscriber) continue
    const outcome = sample.labels.outcome as keyof typeof counts
    if (outcome in counts) counts[outcome] += sample.value
  }
  return counts
}
