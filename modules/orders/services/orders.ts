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

export type OrderStatus = 'pending' | 'confirmed' | 'rejected' | 'cancelled' | 'fulfilled'

/** The status machine: what each status may become. */
const TRANSITIONS: Record<OrderStatus, OrderStatus[]> = {
  pending: ['confirmed', 'rejected', 'cancelled'],
  confirmed: ['fulfilled', 'cancelled'],
  rejected: [],
  cancelled: [],
  fulfilled: [],
}

export interface OrderRow {
  id: string
  tenant_id: string
  status: OrderStatus
  customer_email: string
  note: string | null
  lines: OrderLine[]
  priced_lines: ReservedLine[] | null
  total_minor: string | number | null
  currency: string | null
  shortages: Shortage[] | null
  placed_by: string | null
  created_at: Date
  updated_at: Date
}

export function presentOrder(row: OrderRow, history?: Array<Record<string, unknown>>) {
  return {
    id: row.id,
    status: row.status,
    customerEmail: row.customer_email,
    note: row.note,
    lines: row.priced_lines ?? row.lines,
    totalMinor: row.total_minor === null ? null : Number(row.total_minor),
    currency: row.currency,
    shortages: row.shortages,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    ...(history ? { history } : {}),
  }
}

const notFound = () => new ProblemException(404, 'order_not_found', 'No such order.')

function illegal(from: OrderStatus, to: OrderStatus) {
  return new ProblemException(
    409,
    'illegal_transition',
    `An order that is ${from} cannot become ${to} (${from} → ${to} is not allowed).`
  )
}

async function find(trx: TransactionClientContract, id: string, lock = false): Promise<OrderRow> {
  if (!isUuid(id)) throw notFound()
  const query = trx.from('orders_orders').where('id', id)
  if (lock) query.forUpdate()
  const row = await query.first()
  if (!row) throw notFound()
  return row
}

/** Moves an order along the status machine (locked, recorded in its history), or throws the 409. */
async function transition(
  trx: TransactionClientContract,
  order: OrderRow,
  to: OrderStatus,
  details: { reason?: string; actorUserId?: string | null; changes?: Record<string, unknown> } = {}
) {
  if (!TRANSITIONS[order.status].includes(to)) throw illegal(order.status, to)
  const [updated] = await trx
    .from('orders_orders')
    .where('id', order.id)
    .update({ status: to, updated_at: trx.raw('now()'), ...details.changes })
    .returning('*')
  await trx.table('orders_status_history').insert({
    id: newId(),
    tenant_id: order.tenant_id,
    order_id: order.id,
    from_status: order.status,
    to_status: to,
    reason: details.reason ?? null,
    actor_user_id: details.actorUserId ?? null,
  })
  return updated as OrderRow
}

async function historyOf(trx: TransactionClientContract, id: string) {
  const rows = await trx
    .from('orders_status_history')
    .where('order_id', id)
    .orderBy('created_at')
    .orderBy('id')
  return rows.map((row) => ({
    from: row.from_status,
    to: row.to_status,
    reason: row.reason,
    actorUserId: row.actor_user_id,
    at: new Date(row.created_at).toISOString(),
  }))
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
      const query = trx.from('orders_orders').where('tenant_id', actor.tenantId)
      if (filters.status) query.where('status', filters.status)
      if (filters.customer) query.where('customer_email', filters.customer.toLowerCase())
      if (filters.from) query.where('created_at', '>=', filters.from)
      if (filters.to) query.where('created_at', '<', trx.raw(`?::date + 1`, [filters.to]))
      return paginate<OrderRow, ReturnType<typeof presentOrder>>(query, filters, {}, (row) =>
        presentOrder(row)
      )
    })
  },

  show(actor: TenantActor, id: string) {
    return inActiveTenant(actor, async (trx) => {
      const row = await find(trx, id)
      return presentOrder(row, await historyOf(trx, row.id))
    })
  },

  async place(
    actor: TenantActor,
    input: { lines: OrderLine[]; customerEmail: string; note?: string | null }
  ) {
    return presentOrder(
      await inActiveTenant(actor, (trx, tenantId) => place(trx, tenantId, input, actor.userId))
    )
  },

  async cancel(actor: TenantActor, id: string) {
    return presentOrder(await inActiveTenant(actor, (trx) => cancel(trx, id, actor.userId)))
  },

  async fulfil(actor: TenantActor, id: string) {
    return presentOrder(await inActiveTenant(actor, (trx) => fulfil(trx, id, actor.userId)))
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
  const id = newId()
  const [row] = await trx
    .table('orders_orders')
    .insert({
      id,
      tenant_id: tenantId,
      status: 'pending',
      customer_email: input.customerEmail.toLowerCase(),
      note: input.note ?? null,
      lines: JSON.stringify(input.lines),
      placed_by: placedBy,
    })
    .returning('*')
  await trx.table('orders_status_history').insert({
    id: newId(),
    tenant_id: tenantId,
    order_id: id,
    from_status: null,
    to_status: 'pending',
    reason: 'placed',
    actor_user_id: placedBy,
  })
  await events.publish(
    trx,
    'orders.order_placed',
    { orderId: id, lines: input.lines, customerEmail: input.customerEmail.toLowerCase() },
    { version: 1, tenantId, aggregateId: id }
  )
  return row as OrderRow
}

async function cancel(trx: TransactionClientContract, id: string, actorUserId: string) {
  const order = await find(trx, id, true)
  const updated = await transition(trx, order, 'cancelled', { reason: 'cancelled', actorUserId })
  await publishOutcome(trx, order, 'cancelled', {
    orderId: id,
    customerEmail: order.customer_email,
    previousStatus: order.status,
  })
  return updated
}

async function fulfil(trx: TransactionClientContract, id: string, actorUserId: string) {
  const order = await find(trx, id, true)
  const updated = await transition(trx, order, 'fulfilled', { reason: 'fulfilled', actorUserId })
  await publishOutcome(trx, order, 'fulfilled', {
    orderId: id,
    customerEmail: order.customer_email,
  })
  return updated
}

type Outcome = 'confirmed' | 'rejected' | 'cancelled' | 'fulfilled'

/**
 * States an outcome as an integration event (for the inventory, webhooks and
 * anyone else) and tells the tenant and the customer — all in the unit of
 * work that reached it, so each happens once.
 */
async function publishOutcome<T extends Outcome>(
  trx: TransactionClientContract,
  order: OrderRow,
  outcome: T,
  payload: PayloadOf<`orders.order_${T}`>
) {
  const eventId = await events.publish(trx, `orders.order_${outcome}`, payload, {
    version: 1,
    tenantId: order.tenant_id,
    aggregateId: order.id,
  } as PublishOptions<`orders.order_${T}`>)
  await noticeOutcome(
    trx,
    outcome,
    { id: order.id, tenantId: order.tenant_id, customerEmail: order.customer_email },
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
          priced_lines: JSON.stringify(payload.lines),
          total_minor: payload.totalMinor,
          currency: payload.currency,
        },
      })
      await publishOutcome(trx, order, 'confirmed', {
        orderId: order.id,
        customerEmail: order.customer_email,
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
      changes: { shortages: JSON.stringify(payload.shortages) },
    })
    await publishOutcome(trx, order, 'rejected', {
      orderId: order.id,
      customerEmail: order.customer_email,
      shortSkus: payload.shortages.map((shortage) => shortage.sku),
    })
  },
}
