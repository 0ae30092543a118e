import type { HttpContext } from '@adonisjs/core/http'
import { principalOf } from '#app/auth/jwt_guard'
import { paginate } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { orders, presentOrder, type OrderRow } from '#modules/orders/services/orders'
import { listOrdersValidator, placeOrderValidator } from '#modules/orders/validators/orders'

/** Orders of the caller's active tenant; any member may place, list, cancel and fulfil. */
export default class OrdersController {
  /** 202: the order is pending until the inventory answers (the saga). */
  async store(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(placeOrderValidator)
    const principal = principalOf(ctx)
    const row = await inActiveTenant(principal, (trx, tenantId) =>
      orders.place(trx, tenantId, input, principal.userId)
    )
    ctx.response.header('location', `/api/v1/orders/${row.id}`)
    return ctx.response.accepted(presentOrder(row))
  }

  async index(ctx: HttpContext) {
    const filters = await listOrdersValidator.validate(ctx.request.qs())
    return inActiveTenant(principalOf(ctx), (trx) => {
      const query = trx.from('orders_orders')
      if (filters.status) query.where('status', filters.status)
      if (filters.customer) query.where('customer_email', filters.customer.toLowerCase())
      if (filters.from) query.where('created_at', '>=', filters.from)
      if (filters.to) query.where('created_at', '<', trx.raw(`?::date + 1`, [filters.to]))
      return paginate<OrderRow, ReturnType<typeof presentOrder>>(
        ctx,
        query,
        {
          sortColumn: 'created_at',
          sortValue: (row) => new Date(row.created_at).toISOString(),
          idValue: (row) => row.id,
        },
        (row) => presentOrder(row)
      )
    })
  }

  async show(ctx: HttpContext) {
    return inActiveTenant(principalOf(ctx), async (trx) => {
      const row = await orders.find(trx, ctx.params.id)
      return presentOrder(row, await orders.history(trx, row.id))
    })
  }

  async cancel(ctx: HttpContext) {
    const principal = principalOf(ctx)
    const row = await inActiveTenant(principal, (trx) =>
      orders.cancel(trx, ctx.params.id, principal.userId)
    )
    return presentOrder(row)
  }

  async fulfil(ctx: HttpContext) {
    const principal = principalOf(ctx)
    const row = await inActiveTenant(principal, (trx) =>
      orders.fulfil(trx, ctx.params.id, principal.userId)
    )
    return presentOrder(row)
  }
}
