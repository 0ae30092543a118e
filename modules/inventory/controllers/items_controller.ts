import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import ItemPolicy from '#modules/inventory/policies/item_policy'
import { catalogAdmin } from '#modules/inventory/services/catalog'
import {
  adjustmentValidator,
  itemCreateValidator,
  itemListValidator,
  itemUpdateValidator,
  importValidator,
} from '#modules/inventory/validators/items'

/** The catalog and stock of the caller's active tenant: members read, owners and admins change. */
export default class ItemsController {
  async index(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('view')
    const filters = await itemListValidator.validate(ctx.request.qs())
    return catalogAdmin.list(actorOf(ctx), filters)
  }

  async store(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(itemCreateValidator)
    return ctx.response.created(await catalogAdmin.create(actorOf(ctx), input))
  }

  async show(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('view')
    return catalogAdmin.show(actorOf(ctx), ctx.params.sku)
  }

  async update(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(itemUpdateValidator)
    return catalogAdmin.update(actorOf(ctx), ctx.params.sku, input)
  }

  async adjust(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(adjustmentValidator)
    return ctx.response.created(await catalogAdmin.adjust(actorOf(ctx), ctx.params.sku, input))
  }

  /** 202: the import runs as an operation; follow it at the Location. */
  async import(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('manage')
    const { csv } = await ctx.request.validateUsing(importValidator)
    const operation = await catalogAdmin.startImport(actorOf(ctx), csv)
    ctx.response.header('location', `/api/v1/operations/${operation.id}`)
    return ctx.response.accepted(operation)
  }

  async ledger(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('view')
    return { data: await catalogAdmin.ledger(actorOf(ctx), ctx.params.sku) }
  }
}
