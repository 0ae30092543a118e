import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { newId } from '#app/platform/ids'
import { insideSavepoint } from '#app/platform/background'
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
 * commits. The relay is woken once it has committed (wakeRelay).
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
  // A savepoint's "commit" is only its release: its hooks would wake the relay before the
  // events are visible, so inside one the NOTIFY stays in the transaction.
  const nested = insideSavepoint(trx)
  // Lucid's binding type leaves out null, which pg sends as SQL NULL.
  await trx.rawQuery(
    outboxInsert(() => '?', { notify: nested }),
    (nested ? [...values, OUTBOX_CHANNEL] : values) as string[]
  )
  if (!nested) wakeRelayAfterCommit(trx)
  return ids
}

/**
 * The same publication as a statement of a one-trip write (tenancy.write),
 * for a hot path that has no other reason to hold a unit of work open:
 * the events commit with the statements beside them, or not at all. Call
 * `events.wake()` once the write has returned (committed).
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
    text: outboxInsert((index) => `$${index}`, { onlyIf: condition }),
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
  ]
  return { ids, values }
}

/**
 * The inserts as one statement, from arrays (any number of events, one
 * statement text). No RETURNING: the app role may only insert here. With
 * `notify` (inside a savepoint only), the relay's wake-up rides along as a
 * data-modifying WITH, which runs whether or not it is read.
 */
function outboxInsert(
  placeholder: (index: number) => string,
  options: { onlyIf?: string; notify?: boolean } = {}
) {
  const [id, type, version, tenant, aggregate, payload, occurred, available, channel] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9,
  ].map(placeholder)
  const insert = `INSERT INTO messaging_outbox
         (id, type, version, tenant_id, aggregate_id, payload, occurred_at, available_at)
       SELECT id, type, version, tenant_id, aggregate_id, payload, occurred_at,
              coalesce(available_at, now())
         FROM unnest(${id}::uuid[], ${type}::text[], ${version}::int[], ${tenant}::uuid[],
                     ${aggregate}::text[], ${payload}::jsonb[], ${occurred}::timestamptz[],
                     ${available}::timestamptz[])
           AS e(id, type, version, tenant_id, aggregate_id, payload, occurred_at, available_at)
        ${options.onlyIf ? `WHERE ${options.onlyIf}` : ''}`
  return options.notify ? `WITH event AS (${insert}) SELECT pg_notify(${channel}, '')` : insert
}

/*
| Waking the relay. A NOTIFY in the publishing transaction was simple, but
| PostgreSQL serializes every committing transaction that has notified (a
| lock held through the commit's WAL flush, so such commits cannot share a
| flush): with 8 publishers at once, commits that NOTIFY ran at half the
| rate of the same commits without (5.5k vs 10.6k a second here). So the
| relay is woken after the commit instead: in this process by calling its
| worker's loop (no database at all), elsewhere by one NOTIFY of its own —
| outside any publishing transaction, and one at a time however many commit
| meanwhile. A process that dies between its commit and the wake-up leaves
| its events to the workers' next look (a later event's wake-up, or their
| idle ceiling), never lost.
*/

const relayWakers = new Set<() => void>()
const wokenAfter = new WeakSet<TransactionClientContract>()
/** The NOTIFY on its way to the other processes, if any; another is due after it when `notifyAgain`. */
let notifying: Promise<void> | null = null
let notifyAgain = false

/** The worker's relay loop in this process: `wake` runs whenever events commit here. Returns the undo. */
export function onRelayWake(wake: () => void) {
  relayWakers.add(wake)
  return () => {
    relayWakers.delete(wake)
  }
}

/** Tells the relay that events have committed: this process's worker if it runs one, else the others. */
export function wakeRelay() {
  if (relayWakers.size > 0) {
    for (const wake of relayWakers) wake()
    return
  }
  if (notifying) {
    notifyAgain = true
    return
  }
  notifying = db
    .rawQuery('SELECT pg_notify(?, ?)', [OUTBOX_CHANNEL, ''])
    .then(
      () => {},
      (error: unknown) => {
        // The workers still find the events at their next look (worker.ts' idle ceiling).
        logger.warn({ err: error }, 'could not wake the relay')
      }
    )
    .finally(() => {
      notifying = null
      if (notifyAgain) {
        notifyAgain = false
        wakeRelay()
      }
    })
}

/** Resolves once no wake-up is on its way (before the database closes at shutdown; tests). */
export async function relayWakesSent() {
  while (notifying) await notifying
}

function wakeRelayAfterCommit(trx: TransactionClientContract) {
  if (wokenAfter.has(trx)) return
  wokenAfter.add(trx)
  trx.after('commit', wakeRelay)
}

export const events = {
  publish,
  publishMany,
  statement: publicationStatement,
  /** After a one-trip write with publication statements has returned. */
  wake: wakeRelay,
}
