import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { paginate } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import ItemPolicy from '#modules/inventory/policies/item_policy'
import { items, presentItem, type ItemRow } from '#modules/inventory/services/stock'
import {
  adjustmentValidator,
  itemCreateValidator,
  itemListValidator,
  itemUpdateValidator,
} from '#modules/inventory/validators/items'

/** The catalog and stock of the caller's active tenant: members read, owners and admins change. */
export default class ItemsController {
  async index(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('view')
    const { lowStock, ...page } = await itemListValidator.validate(ctx.request.qs())
    return inActiveTenant(actorOf(ctx), (trx) => {
      const query = trx.from('inventory_items')
      // Low stock: what is left to sell is at or below the threshold.
      if (lowStock !== undefined) query.whereRaw('on_hand - reserved <= ?', [lowStock])
      return paginate<ItemRow, ReturnType<typeof presentItem>>(
        query,
        page,
        { direction: 'asc', sort: { column: 'sku', kind: 'text', value: (row) => row.sku } },
        presentItem
      )
    })
  }

  async store(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(itemCreateValidator)
    const actor = actorOf(ctx)
    const item = await inActiveTenant(actor, (trx, tenantId) =>
      items.create(trx, tenantId, input, actor.userId)
    )
    return ctx.response.created(item)
  }

  async show(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('view')
    return inActiveTenant(actorOf(ctx), async (trx) =>
      presentItem(await items.find(trx, ctx.params.sku))
    )
  }

  async update(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(itemUpdateValidator)
    return inActiveTenant(actorOf(ctx), (trx) => items.update(trx, ctx.params.sku, input))
  }

  async adjust(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(adjustmentValidator)
    if (input.delta === 0) {
      throw new ProblemException(422, 'validation_failed', 'An adjustment must change the stock.', [
        { field: 'delta', rule: 'notZero', message: 'Must not be 0' },
      ])
    }
    const actor = actorOf(ctx)
    const item = await inActiveTenant(actor, (trx, tenantId) =>
      items.adjust(trx, tenantId, ctx.params.sku, input, actor.userId)
    )
    return ctx.response.created(item)
  }

  async ledger(ctx: HttpContext) {
    await ctx.bouncer.with(ItemPolicy).authorize('view')
    return {
      data: await inActiveTenant(actorOf(ctx), (trx) => items.ledgerOf(trx, ctx.params.sku)),
    }
  }
}
