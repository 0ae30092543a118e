import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { isUuid, newId } from '#app/platform/ids'
import { events, type PublishOptions } from '#app/messaging/outbox'
import type { PayloadOf } from '#app/messaging/types'
import { noticeOutcome } from '#modules/orders/services/notices'
import type { TenantActor } from '#app/auth/policies'
import { paginate, type PageRequest } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { catalog, type ReservedLine, type Shortage } from '#modules/inventory/index'
import type { OrderLine } from '#modules/orders/events'
import Order, { type OrderStatus } from '#modules/orders/models/order'
import OrderStatusChange from '#modules/orders/models/order_status_change'

/** The status machine: what each status may become. */
const TRANSITIONS: Record<OrderStatus, OrderStatus[]> = {
  pending: ['confirmed', 'rejected', 'cancelled'],
  confirmed: ['fulfilled', 'cancelled'],
  rejected: [],
  cancelled: [],
  fulfilled: [],
}

/** Whether the status machine lets an order go from one status to another. */
export function canTransition(from: OrderStatus, to: OrderStatus) {
  return TRANSITIONS[from].includes(to)
}

const notFound = () => new ProblemException(404, 'order_not_found', 'No such order.')

function illegal(from: OrderStatus, to: OrderStatus) {
  return new ProblemException(
    409,
    'illegal_transition',
    `An order that is ${from} cannot become ${to} (${from} → ${to} is not allowed).`
  )
}

async function find(trx: TransactionClientContract, id: string, lock = false) {
  if (!isUuid(id)) throw notFound()
  const query = Order.query({ client: trx }).where('id', id)
  if (lock) query.forUpdate()
  const order = await query.first()
  if (!order) throw notFound()
  return order
}

/** Moves an order along the status machine, recorded in its history, or throws the 409. */
async function transition(
  trx: TransactionClientContract,
  order: Order,
  to: OrderStatus,
  details: {
    reason?: string
    actorUserId?: string | null
    changes?: Partial<Pick<Order, 'pricedLines' | 'totalMinor' | 'currency' | 'shortages'>>
  } = {}
) {
  const from = order.status
  if (!canTransition(from, to)) throw illegal(from, to)
  await order
    .useTransaction(trx)
    .merge({ status: to, ...details.changes })
    .save()
  await OrderStatusChange.create(
    {
      id: newId(),
      tenantId: order.tenantId,
      orderId: order.id,
      fromStatus: from,
      toStatus: to,
      reason: details.reason ?? null,
      actorUserId: details.actorUserId ?? null,
    },
    { client: trx }
  )
  return order
}

export interface OrderFilters extends PageRequest {
  status?: OrderStatus
  customer?: string
  /** YYYY-MM-DD, inclusive. */
  from?: string
  to?: string
}

/** The use cases, each its own unit of work in the actor's tenant (OrderPolicy has decided who may). */
export const orders = {
  list(actor: TenantActor, filters: OrderFilters) {
    return inActiveTenant(actor, (trx) => {
      const query = Order.query({ client: trx }).where('tenant_id', actor.tenantId)
      if (filters.status) query.where('status', filters.status)
      if (filters.customer) query.where('customer_email', filters.customer.toLowerCase())
      if (filters.from) query.where('created_at', '>=', filters.from)
      if (filters.to) query.where('created_at', '<', trx.raw(`?::date + 1`, [filters.to]))
      return paginate(query, filters, {}, (order) => order.serialize())
    })
  },

  show(actor: TenantActor, id: string) {
    return inActiveTenant(actor, async (trx) => {
      const order = await find(trx, id)
      await order.load('history', (query) => query.orderBy('created_at').orderBy('id'))
      return order.serialize()
    })
  },

  async place(
    actor: TenantActor,
    input: { lines: OrderLine[]; customerEmail: string; note?: string | null }
  ) {
    const order = await inActiveTenant(actor, (trx, tenantId) =>
      place(trx, tenantId, input, actor.userId)
    )
    return order.serialize()
  },

  async cancel(actor: TenantActor, id: string) {
    const order = await inActiveTenant(actor, (trx) => cancel(trx, id, actor.userId))
    return order.serialize()
  },

  async fulfil(actor: TenantActor, id: string) {
    const order = await inActiveTenant(actor, (trx) => fulfil(trx, id, actor.userId))
    return order.serialize()
  },
}

/** Records the order as pending and publishes orders.order_placed, in one transaction. */
async function place(
  trx: TransactionClientContract,
  tenantId: string,
  input: { lines: OrderLine[]; customerEmail: string; note?: string | null },
  placedBy: string
) {
  const { unsellable, currencies } = await catalog.saleability(
    trx,
    input.lines.map((line) => line.sku)
  )
  if (unsellable.length) {
    throw new ProblemException(422, 'validation_failed', 'Some SKUs are not for sale.', [
      {
        field: 'lines',
        rule: 'sku',
        message: `Unknown or inactive SKU: ${unsellable.join(', ')}`,
      },
    ])
  }
  if (currencies.length > 1) {
    // A total in one currency cannot add up euros and dollars.
    throw new ProblemException(422, 'validation_failed', 'An order is paid in one currency.', [
      {
        field: 'lines',
        rule: 'currency',
        message: `These items are priced in ${currencies.join(' and ')}; place one order per currency.`,
      },
    ])
  }
  const order = await Order.create(
    {
      id: newId(),
      tenantId,
      status: 'pending',
      customerEmail: input.customerEmail.toLowerCase(),
      note: input.note ?? null,
      lines: input.lines,
      pricedLines: null,
      totalMinor: null,
      currency: null,
      shortages: null,
      placedBy,
    },
    { client: trx }
  )
  await OrderStatusChange.create(
    {
      id: newId(),
      tenantId,
      orderId: order.id,
      fromStatus: null,
      toStatus: 'pending',
      reason: 'placed',
      actorUserId: placedBy,
    },
    { client: trx }
  )
  await events.publish(
    trx,
    'orders.order_placed',
    { orderId: order.id, lines: input.lines, customerEmail: order.customerEmail },
    { version: 1, tenantId, aggregateId: order.id }
  )
  return order
}

async function cancel(trx: TransactionClientContract, id: string, actorUserId: string) {
  const order = await find(trx, id, true)
  const previousStatus = order.status
  await transition(trx, order, 'cancelled', { reason: 'cancelled', actorUserId })
  await publishOutcome(trx, order, 'cancelled', {
    orderId: id,
    customerEmail: order.customerEmail,
    previousStatus,
  })
  return order
}

async function fulfil(trx: TransactionClientContract, id: string, actorUserId: string) {
  const order = await find(trx, id, true)
  await transition(trx, order, 'fulfilled', { reason: 'fulfilled', actorUserId })
  await publishOutcome(trx, order, 'fulfilled', { orderId: id, customerEmail: order.customerEmail })
  return order
}

type Outcome = 'confirmed' | 'rejected' | 'cancelled' | 'fulfilled'

/**
 * States an outcome as an integration event (for the inventory, webhooks and
 * anyone else) and tells the tenant and the customer — all in the unit of
 * work that reached it, so each happens once.
 */
async function publishOutcome<T extends Outcome>(
  trx: TransactionClientContract,
  order: Order,
  outcome: T,
  payload: PayloadOf<`orders.order_${T}`>
) {
  const eventId = await events.publish(trx, `orders.order_${outcome}`, payload, {
    version: 1,
    tenantId: order.tenantId,
    aggregateId: order.id,
  } as PublishOptions<`orders.order_${T}`>)
  await noticeOutcome(
    trx,
    outcome,
    { id: order.id, tenantId: order.tenantId, customerEmail: order.customerEmail },
    { id: eventId, payload: payload as Record<string, unknown> }
  )
}

/** The saga's steps, run by subscribers inside the event's tenant unit of work. */
export const orderSaga = {
  /**
   * Saga: stock was reserved. A pending order is confirmed. One cancelled
   * meanwhile needs nothing here: its single orders.order_cancelled reaches
   * the inventory too, which releases the reservation (or, arriving first,
   * prevented it).
   */
  async onStockReserved(
    trx: TransactionClientContract,
    payload: { orderId: string; lines: ReservedLine[]; totalMinor: number; currency: string }
  ) {
    const order = await find(trx, payload.orderId, true)
    if (order.status === 'pending') {
      await transition(trx, order, 'confirmed', {
        reason: 'stock reserved',
        changes: {
          pricedLines: payload.lines,
          totalMinor: payload.totalMinor,
          currency: payload.currency,
        },
      })
      await publishOutcome(trx, order, 'confirmed', {
        orderId: order.id,
        customerEmail: order.customerEmail,
        totalMinor: payload.totalMinor,
        currency: payload.currency,
      })
    }
  },

  /** Saga: not enough stock. A pending order is rejected, naming the short SKUs. */
  async onStockRejected(
    trx: TransactionClientContract,
    payload: { orderId: string; shortages: Shortage[] }
  ) {
    const order = await find(trx, payload.orderId, true)
    if (order.status !== 'pending') return
    await transition(trx, order, 'rejected', {
      reason: 'insufficient stock',
      changes: { shortages: payload.shortages },
    })
    await publishOutcome(trx, order, 'rejected', {
      orderId: order.id,
      customerEmail: order.customerEmail,
      shortSkus: payload.shortages.map((shortage) => shortage.sku),
    })
  },
}
