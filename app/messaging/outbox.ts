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
  await trx.table('messaging_outbox').insert({
    id,
    type,
    version: options.version as number,
    tenant_id: options.tenantId,
    aggregate_id: options.aggregateId ?? null,
    payload: JSON.stringify(payload),
    occurred_at: new Date(),
    available_at: options.availableAt ?? trx.raw('now()'),
  })
  await trx.rawQuery('SELECT pg_notify(?, ?)', [OUTBOX_CHANNEL, type])
  return id
}

export const events = { publish }
