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
  const { ids, values } = outboxRows(publications)
  // Lucid's binding type leaves out null, which pg sends as SQL NULL.
  await trx.rawQuery(
    outboxInsert(() => '?'),
    values as string[]
  )
  return ids
}

/**
 * The same publication as a statement of a one-trip write (tenancy.write),
 * for a hot path that has no other reason to hold a unit of work open:
 * the events commit with the statements beside them, or not at all.
 *
 * A one-trip write cannot decide in JavaScript whether an earlier statement
 * found its row, so `onlyIf` lets the database decide: an SQL condition
 * with its own values (`$1`… numbered on its own), e.g. that the message
 * the event describes still exists. Make it uncorrelated — about the
 * values, not the event's columns: PostgreSQL then checks it once, by
 * index; a condition on the event row `e` was planned under row-level
 * security as a hash join over every row of the tenant (15 ms at 45k
 * messages, bench:chat).
 */
export function publicationStatement(
  publications: Publication[],
  options: { onlyIf?: { sql: string; values: unknown[] } } = {}
): { text: string; values: unknown[]; ids: string[] } {
  const { ids, values } = outboxRows(publications)
  const condition = options.onlyIf?.sql.replace(
    /\$(\d+)/g,
    (_, index: string) => `$${Number(index) + values.length}`
  )
  return {
    text: outboxInsert((index) => `$${index}`, condition),
    values: [...values, ...(options.onlyIf?.values ?? [])],
    ids,
  }
}

/** The outbox columns of each publication, as the arrays outboxInsert unnests. */
function outboxRows(publications: Publication[]) {
  const ids = publications.map(() => newId())
  const occurredAt = new Date()
  const column = <V>(of: (publication: Publication) => V) => publications.map(of)
  const values = [
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
  ]
  return { ids, values }
}

/**
 * The inserts and the relay's wake-up in one statement: every event-publishing
 * unit of work (an order's each step, a finished chat reply) saves a round
 * trip. A data-modifying WITH runs whether or not it is read, and no
 * RETURNING: the app role may only insert here. The NOTIFY goes out even when
 * `onlyIf` kept every row back: a relay woken for nothing finds nothing.
 */
function outboxInsert(placeholder: (index: number) => string, onlyIf?: string) {
  const [id, type, version, tenant, aggregate, payload, occurred, available, channel, first] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
  ].map(placeholder)
  return `WITH event AS (
       INSERT INTO messaging_outbox
         (id, type, version, tenant_id, aggregate_id, payload, occurred_at, available_at)
       SELECT id, type, version, tenant_id, aggregate_id, payload, occurred_at,
              coalesce(available_at, now())
         FROM unnest(${id}::uuid[], ${type}::text[], ${version}::int[], ${tenant}::uuid[],
                     ${aggregate}::text[], ${payload}::jsonb[], ${occurred}::timestamptz[],
                     ${available}::timestamptz[])
           AS e(id, type, version, tenant_id, aggregate_id, payload, occurred_at, available_at)
        ${onlyIf ? `WHERE ${onlyIf}` : ''}
     )
     SELECT pg_notify(${channel}, ${first})`
}

export const events = { publish, publishMany, statement: publicationStatement }
