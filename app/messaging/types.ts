import type { TransactionClientContract } from '@adonisjs/lucid/types/database'

/**
 * Every integration event the application knows. Modules add theirs in their
 * events.ts by declaration merging, so publishing or subscribing to an
 * undeclared type, or with the wrong payload, is a type error:
 *
 *   declare module '#app/messaging/types' {
 *     interface IntegrationEvents {
 *       'orders.order_placed': { version: 1; payload: { orderId: string; totalMinor: number } }
 *     }
 *   }
 */
export interface IntegrationEvents {}

export type EventType = keyof IntegrationEvents & string
export type PayloadOf<T extends EventType> = IntegrationEvents[T] extends { payload: infer P }
  ? P
  : never
export type VersionOf<T extends EventType> = IntegrationEvents[T] extends { version: infer V }
  ? V
  : never

/** What travels: the same envelope in-process, over BullMQ, RabbitMQ or Kafka. */
export interface EventEnvelope<T extends EventType = EventType> {
  id: string
  type: T
  version: number
  tenantId: string | null
  aggregateId: string | null
  occurredAt: string
  payload: PayloadOf<T>
}

export type EventHandler<T extends EventType> = (
  event: EventEnvelope<T>,
  trx: TransactionClientContract
) => Promise<void>

/** A handler given a tenant's fresh events of one batch at once, oldest first (subscribeBatch). */
export type BatchEventHandler<T extends EventType> = (
  events: Array<EventEnvelope<T>>,
  trx: TransactionClientContract
) => Promise<void>
