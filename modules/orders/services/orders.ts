import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { isUuid, newId } from '#app/platform/ids'
import { events, type Publication } from '#app/messaging/outbox'
import type { PayloadOf } from '#app/messaging/types'
import { noticeOutcomes } from '#modules/orders/services/notices'
import type { TenantActor } from '#app/auth/policies'
import { paginate, type PageRequest } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { catalog, type Shortage } from '#modules/inventory/index'
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

/** Appends orders' status changes to their history, in one insert however many. */
async function recordHistory(
  trx: TransactionClientContract,
  changes: Array<{
    order: Pick<Order, 'id' | 'tenantId'>
    from: OrderStatus | null
    to: OrderStatus
    reason?: string
    actorUserId?: string | null
  }>
) {
  // The application's clock, like the orders' own timestamps, so an order's history stays in order.
  const at = new Date()
  await trx.table(OrderStatusChange.table).multiInsert(
    changes.map((change) => ({
      id: newId(),
      tenant_id: change.order.tenantId,
      order_id: change.order.id,
      from_status: change.from,
      to_status: change.to,
      reason: change.reason ?? null,
      actor_user_id: change.actorUserId ?? null,
      created_at: at,
      updated_at: at,
    }))
  )
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
  await recordHistory(trx, [{ order, from, to, ...details }])
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
    return inActiveTenant(
      actor,
      (trx) => {
        const query = Order.query({ client: trx }).where('tenant_id', actor.tenantId)
        if (filters.status) query.where('status', filters.status)
        if (filters.customer) query.where('customer_email', filters.customer.toLowerCase())
        if (filters.from) query.where('created_at', '>=', filters.from)
        if (filters.to) query.where('created_at', '<', trx.raw(`?::date + 1`, [filters.to]))
        return paginate(query, filters, {}, (order) => order.serialize())
      },
      { readOnly: true }
    )
  },

  show(actor: TenantActor, id: string) {
    return inActiveTenant(
      actor,
      async (trx) => {
        const order = await find(trx, id)
        await order.load('history', (query) => query.orderBy('created_at').orderBy('id'))
        return order.serialize()
      },
      { readOnly: true }
    )
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
  await recordHistory(trx, [
    { order, from: null, to: 'pending', reason: 'placed', actorUserId: placedBy },
  ])
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
  await publishOutcomes(trx, 'cancelled', [
    { order, payload: { orderId: id, customerEmail: order.customerEmail, previousStatus } },
  ])
  return order
}

async function fulfil(trx: TransactionClientContract, id: string, actorUserId: string) {
  const order = await find(trx, id, true)
  await transition(trx, order, 'fulfilled', { reason: 'fulfilled', actorUserId })
  await publishOutcomes(trx, 'fulfilled', [
    { order, payload: { orderId: id, customerEmail: order.customerEmail } },
  ])
  return order
}

type Outcome = 'confirmed' | 'rejected' | 'cancelled' | 'fulfilled'

/**
 * States orders' outcome as integration events (for the inventory, webhooks
 * and anyone else) and tells the tenant and the customers — all in the unit
 * of work that reached it, so each happens once. One call for a batch.
 */
async function publishOutcomes<T extends Outcome>(
  trx: TransactionClientContract,
  outcome: T,
  reached: Array<{ order: Order; payload: PayloadOf<`orders.order_${T}`> }>
) {
  const eventIds = await events.publishMany(
    trx,
    reached.map(
      ({ order, payload }) =>
        ({
          type: `orders.order_${outcome}`,
          payload,
          options: { version: 1, tenantId: order.tenantId, aggregateId: order.id },
        }) as Publication
    )
  )
  await noticeOutcomes(
    trx,
    outcome,
    reached.map(({ order, payload }, index) => ({
      order,
      event: { id: eventIds[index], payload: payload as Record<string, unknown> },
    }))
  )
}

/** The saga's steps, run by subscribers inside the event's tenant unit of work. */
export const orderSaga = {
  /**
   * Saga: stock was reserved. Pending orders are confirmed, a batch of them
   * in one set of statements (every order passes here): lock them in id
   * order, update them, their history, their events and notices. One
   * cancelled meanwhile needs nothing here: its single orders.order_cancelled
   * reaches the inventory too, which releases the reservation (or, arriving
   * first, prevented it).
   */
  async onStockReserved(
    trx: TransactionClientContract,
    reserved: Array<PayloadOf<'inventory.stock_reserved'>>
  ) {
    const ids = reserved.map((payload) => payload.orderId)
    if (!ids.every(isUuid)) throw notFound()
    const locked = await Order.query({ client: trx }).whereIn('id', ids).orderBy('id').forUpdate()
    const byId = new Map(locked.map((order) => [order.id, order]))
    const confirming: Array<{ order: Order; payload: PayloadOf<'inventory.stock_reserved'> }> = []
    for (const payload of reserved) {
      const order = byId.get(payload.orderId)
      if (!order) throw notFound()
      // Pending, and confirmed once even if the batch names it twice.
      if (order.status !== 'pending' || confirming.some((entry) => entry.order === order)) continue
      confirming.push({ order, payload })
    }
    if (confirming.length === 0) return
    await trx.rawQuery(
      `UPDATE orders_orders o
          SET status = 'confirmed', priced_lines = d.priced_lines, total_minor = d.total_minor,
              currency = d.currency, updated_at = ?
         FROM unnest(?::uuid[], ?::jsonb[], ?::bigint[], ?::text[])
           AS d(id, priced_lines, total_minor, currency)
        WHERE o.id = d.id`,
      [
        new Date(),
        confirming.map(({ order }) => order.id),
        confirming.map(({ payload }) => JSON.stringify(payload.lines)),
        confirming.map(({ payload }) => payload.totalMinor),
        confirming.map(({ payload }) => payload.currency),
      ]
    )
    await recordHistory(
      trx,
      confirming.map(({ order }) => ({
        order,
        from: 'pending',
        to: 'confirmed',
        reason: 'stock reserved',
      }))
    )
    await publishOutcomes(
      trx,
      'confirmed',
      confirming.map(({ order, payload }) => ({
        order,
        payload: {
          orderId: order.id,
          customerEmail: order.customerEmail,
          totalMinor: payload.totalMinor,
          currency: payload.currency,
        },
      }))
    )
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
    await publishOutcomes(trx, 'rejected', [
      {
        order,
        payload: {
          orderId: order.id,
          customerEmail: order.customerEmail,
          shortSkus: payload.shortages.map((shortage) => shortage.sku),
        },
      },
    ])
  },
}
