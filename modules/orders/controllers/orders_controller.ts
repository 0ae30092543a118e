import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import OrderPolicy from '#modules/orders/policies/order_policy'
import { orders } from '#modules/orders/services/orders'
import { listOrdersValidator, placeOrderValidator } from '#modules/orders/validators/orders'

/** Orders of the caller's active tenant: authorize → validate → call the service → answer. */
export default class OrdersController {
  /** 202: the order is pending until the inventory answers (the saga). */
  async store(ctx: HttpContext) {
    await ctx.bouncer.with(OrderPolicy).authorize('place')
    const input = await ctx.request.validateUsing(placeOrderValidator)
    const order = await orders.place(actorOf(ctx), input)
    ctx.response.header('location', `/api/v1/orders/${order.id}`)
    return ctx.response.accepted(order)
  }

  async index(ctx: HttpContext) {
    await ctx.bouncer.with(OrderPolicy).authorize('view')
    const filters = await listOrdersValidator.validate(ctx.request.qs())
    return orders.list(actorOf(ctx), filters)
  }

  async show(ctx: HttpContext) {
    await ctx.bouncer.with(OrderPolicy).authorize('view')
    return orders.show(actorOf(ctx), ctx.params.id)
  }

  async cancel(ctx: HttpContext) {
    await ctx.bouncer.with(OrderPolicy).authorize('cancel')
    return orders.cancel(actorOf(ctx), ctx.params.id)
  }

  async fulfil(ctx: HttpContext) {
    await ctx.bouncer.with(OrderPolicy).authorize('fulfil')
    return orders.fulfil(actorOf(ctx), ctx.params.id)
  }
}
