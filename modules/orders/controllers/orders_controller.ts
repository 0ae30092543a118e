import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import { paginate } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import OrderPolicy from '#modules/orders/policies/order_policy'
import { orders, presentOrder, type OrderRow } from '#modules/orders/services/orders'
import { listOrdersValidator, placeOrderValidator } from '#modules/orders/validators/orders'

/** Orders of the caller's active tenant; who may do what is OrderPolicy's. */
export default class OrdersController {
  /** 202: the order is pending until the inventory answers (the saga). */
  async store(ctx: HttpContext) {
    await ctx.bouncer.with(OrderPolicy).authorize('place')
    const input = await ctx.request.validateUsing(placeOrderValidator)
    const actor = actorOf(ctx)
    const row = await inActiveTenant(actor, (trx, tenantId) =>
      orders.place(trx, tenantId, input, actor.userId)
    )
    ctx.response.header('location', `/api/v1/orders/${row.id}`)
    return ctx.response.accepted(presentOrder(row))
  }

  async index(ctx: HttpContext) {
    await ctx.bouncer.with(OrderPolicy).authorize('view')
    const filters = await listOrdersValidator.validate(ctx.request.qs())
    return inActiveTenant(actorOf(ctx), (trx) => {
      const query = trx.from('orders_orders')
      if (filters.status) query.where('status', filters.status)
      if (filters.customer) query.where('customer_email', filters.customer.toLowerCase())
      if (filters.from) query.where('created_at', '>=', filters.from)
      if (filters.to) query.where('created_at', '<', trx.raw(`?::date + 1`, [filters.to]))
      return paginate<OrderRow, ReturnType<typeof presentOrder>>(query, filters, {}, (row) =>
        presentOrder(row)
      )
    })
  }

  async show(ctx: HttpContext) {
    await ctx.bouncer.with(OrderPolicy).authorize('view')
    return inActiveTenant(actorOf(ctx), async (trx) => {
      const row = await orders.find(trx, ctx.params.id)
      return presentOrder(row, await orders.history(trx, row.id))
    })
  }

  async cancel(ctx: HttpContext) {
    await ctx.bouncer.with(OrderPolicy).authorize('cancel')
    const actor = actorOf(ctx)
    const row = await inActiveTenant(actor, (trx) =>
      orders.cancel(trx, ctx.params.id, actor.userId)
    )
    return presentOrder(row)
  }

  async fulfil(ctx: HttpContext) {
    await ctx.bouncer.with(OrderPolicy).authorize('fulfil')
    const actor = actorOf(ctx)
    const row = await inActiveTenant(actor, (trx) =>
      orders.fulfil(trx, ctx.params.id, actor.userId)
    )
    return presentOrder(row)
  }
}
