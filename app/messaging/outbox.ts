import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { newId } from '#app/platform/ids'
import type { EventType, PayloadOf, VersionOf } from '#app/messaging/types'

export const OUTBOX_CHANNEL = 'atrium_outbox'

export interface PublishOptions<T extends EventType> {
  version: VersionOf<T>
  /** The tenant the event belongs to (null for platform events); handlers run in its unit of work. */
  tenantId: string | null
  /** Orders events per aggregate on transports that can (Kafka partition key). */
  aggregateId?: string
  /** Delayed events (timers, scheduled publishing): not delivered before this moment. */
  availableAt?: Date
}

/**
 * Publishes an integration event: one insert into the outbox in the caller's
 * transaction, so the event exists if and only if the change it describes
 * commits. NOTIFY is transactional too: the relay wakes after the commit.
 */
export async function publish<T extends EventType>(
  trx: TransactionClientContract,
  type: T,
  payload: PayloadOf<T>,
  options: PublishOptions<T>
): Promise<string> {
  const id = newId()
  // The insert and the relay's wake-up in one statement: every event-publishing unit of
  // work (an order's each step, a finished chat reply) saves a round trip. A data-modifying
  // WITH runs whether or not it is read, and no RETURNING: the app role may only insert here.
  const bindings: unknown[] = [
    id,
    type,
    options.version as number,
    options.tenantId,
    options.aggregateId ?? null,
    JSON.stringify(payload),
    new Date(),
    options.availableAt ?? null,
    OUTBOX_CHANNEL,
    type,
  ]
  await trx.rawQuery(
    `WITH event AS (
       INSERT INTO messaging_outbox
         (id, type, version, tenant_id, aggregate_id, payload, occurred_at, available_at)
       VALUES (?, ?, ?, ?, ?, ?::jsonb, ?, coalesce(?::timestamptz, now()))
     )
     SELECT pg_notify(?, ?)`,
    // Lucid's binding type leaves out null, which pg sends as SQL NULL.
    bindings as string[]
  )
  return id
}

export const events = { publish }
