/*
| Notifications react to the order saga's outcomes: an in-app notification
| for the tenant, an email to the customer and the tenant's webhooks — all
| written in the event's unit of work (through the inbox, so once per event)
| and sent by the module's jobs (module.ts).
*/
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { subscribe } from '#app/messaging/subscribers'
import type { EventEnvelope } from '#app/messaging/types'
import { inbox, outboundMail } from '#modules/notifications/services/notifications'
import { webhooks } from '#modules/notifications/services/webhooks'
import '#modules/orders/index'

type OrderOutcome =
  | 'orders.order_confirmed'
  | 'orders.order_rejected'
  | 'orders.order_cancelled'
  | 'orders.order_fulfilled'

const COPY: Record<OrderOutcome, { title: string; subject: string; text: string }> = {
  'orders.order_confirmed': {
    title: 'Order confirmed',
    subject: 'Your order is confirmed',
    text: 'Good news: your order {id} is confirmed and its items are reserved for you.',
  },
  'orders.order_rejected': {
    title: 'Order rejected',
    subject: 'We could not take your order',
    text: 'Sorry: your order {id} could not be filled — some items are out of stock.',
  },
  'orders.order_cancelled': {
    title: 'Order cancelled',
    subject: 'Your order was cancelled',
    text: 'Your order {id} was cancelled.',
  },
  'orders.order_fulfilled': {
    title: 'Order fulfilled',
    subject: 'Your order is on its way',
    text: 'Your order {id} has been fulfilled.',
  },
}

async function onOrderOutcome(
  type: OrderOutcome,
  event: EventEnvelope<OrderOutcome>,
  trx: TransactionClientContract
) {
  const tenantId = event.tenantId!
  const { orderId, customerEmail } = event.payload
  const copy = COPY[type]
  await inbox.notify(trx, tenantId, {
    kind: type,
    title: copy.title,
    body: `${copy.title}: ${orderId} (${customerEmail})`,
    data: { ...event.payload },
    eventId: event.id,
  })
  await outboundMail.queue(trx, tenantId, {
    to: customerEmail,
    subject: copy.subject,
    text: copy.text.replace('{id}', orderId),
    eventId: event.id,
  })
  await webhooks.fanOut(trx, tenantId, event)
}

for (const type of Object.keys(COPY) as OrderOutcome[]) {
  subscribe(type, `notifications.${type.split('.')[1]}`, (event, trx) =>
    onOrderOutcome(type, event as EventEnvelope<OrderOutcome>, trx)
  )
}
