import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { notifications } from '#modules/notifications/index'

type Outcome = 'confirmed' | 'rejected' | 'cancelled' | 'fulfilled'

/** What the tenant sees in-app and what the customer is mailed, per outcome. */
const COPY: Record<Outcome, { title: string; subject: string; text: string }> = {
  confirmed: {
    title: 'Order confirmed',
    subject: 'Your order is confirmed',
    text: 'Good news: your order {id} is confirmed and its items are reserved for you.',
  },
  rejected: {
    title: 'Order rejected',
    subject: 'We could not take your order',
    text: 'Sorry: your order {id} could not be filled — some items are out of stock.',
  },
  cancelled: {
    title: 'Order cancelled',
    subject: 'Your order was cancelled',
    text: 'Your order {id} was cancelled.',
  },
  fulfilled: {
    title: 'Order fulfilled',
    subject: 'Your order is on its way',
    text: 'Your order {id} has been fulfilled.',
  },
}

/**
 * Tells the tenant (in-app) and the customers (mail) about orders' outcome,
 * in the unit of work that reached it: once per outcome, because an order
 * reaches each status once. One call for a batch of orders.
 */
export async function noticeOutcomes(
  trx: TransactionClientContract,
  outcome: Outcome,
  reached: Array<{
    order: { id: string; tenantId: string; customerEmail: string }
    event: { id: string; payload: Record<string, unknown> }
  }>
) {
  const copy = COPY[outcome]
  await notifications.notify(
    trx,
    ...reached.map(({ order, event }) => ({
      tenantId: order.tenantId,
      kind: `orders.order_${outcome}`,
      title: copy.title,
      body: `${copy.title}: ${order.id} (${order.customerEmail})`,
      data: event.payload,
      eventId: event.id,
      email: {
        to: order.customerEmail,
        subject: copy.subject,
        text: copy.text.replace('{id}', order.id),
      },
    }))
  )
}
