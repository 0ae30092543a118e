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

/** One event for publishMany: its type, payload and options, checked together. */
export type Publication = {
  [T in EventType]: { type: T; payload: PayloadOf<T>; options: PublishOptions<T> }
}[EventType]

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
  const [id] = await publishMany(trx, [{ type, payload, options } as Publication])
  return id
}

/**
 * Publishes several events in one statement, in the order given (a handler
 * that settles a batch of deliveries publishes their outcomes together).
 * Returns their ids in that order.
 */
export async function publishMany(
  trx: TransactionClientContract,
  publications: Publication[]
): Promise<string[]> {
  if (publications.length === 0) return []
  const ids = publications.map(() => newId())
  const occurredAt = new Date()
  const column = <V>(of: (publication: Publication, index: number) => V) => publications.map(of)
  // The inserts and the relay's wake-up in one statement: every event-publishing unit of
  // work (an order's each step, a finished chat reply) saves a round trip. A data-modifying
  // WITH runs whether or not it is read, and no RETURNING: the app role may only insert here.
  await trx.rawQuery(
    `WITH event AS (
       INSERT INTO messaging_outbox
         (id, type, version, tenant_id, aggregate_id, payload, occurred_at, available_at)
       SELECT id, type, version, tenant_id, aggregate_id, payload, occurred_at,
              coalesce(available_at, now())
         FROM unnest(?::uuid[], ?::text[], ?::int[], ?::uuid[], ?::text[], ?::jsonb[],
                     ?::timestamptz[], ?::timestamptz[])
           AS e(id, type, version, tenant_id, aggregate_id, payload, occurred_at, available_at)
     )
     SELECT pg_notify(?, ?)`,
    // Lucid's binding type leaves out null, which pg sends as SQL NULL.
    [
      ids,
      column((publication) => publication.type),
      column((publication) => publication.options.version as number),
      column((publication) => publication.options.tenantId),
      column((publication) => publication.options.aggregateId ?? null),
      column((publication) => JSON.stringify(publication.payload)),
      column(() => occurredAt),
      column((publication) => publication.options.availableAt ?? null),
      OUTBOX_CHANNEL,
      publications[0].type,
    ] as string[]
  )
  return ids
}

export const events = { publish, publishMany }
