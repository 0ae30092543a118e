import type { HttpContext } from '@adonisjs/core/http'
import { principalOf } from '#app/auth/jwt_guard'
import { ProblemException } from '#app/http/problem'
import { paginate } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { items, presentItem, type ItemRow } from '#modules/inventory/services/stock'
import {
  adjustmentValidator,
  itemCreateValidator,
  itemListValidator,
  itemUpdateValidator,
} from '#modules/inventory/validators/items'

const MANAGERS = { roles: ['owner', 'admin'], action: 'manage the catalog and stock' }

/** The catalog and stock of the caller's active tenant: members read, owners and admins change. */
export default class ItemsController {
  async index(ctx: HttpContext) {
    const { lowStock } = await itemListValidator.validate(ctx.request.qs())
    return inActiveTenant(principalOf(ctx), (trx) => {
      const query = trx.from('inventory_items')
      // Low stock: what is left to sell is at or below the threshold.
      if (lowStock !== undefined) query.whereRaw('on_hand - reserved <= ?', [lowStock])
      return paginate<ItemRow, ReturnType<typeof presentItem>>(
        ctx,
        query,
        {
          sortColumn: 'sku',
          idColumn: 'id',
          direction: 'asc',
          sortKind: 'text',
          sortValue: (row) => row.sku,
          idValue: (row) => row.id,
        },
        presentItem
      )
    })
  }

  async store(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(itemCreateValidator)
    const principal = principalOf(ctx)
    const item = await inActiveTenant(
      principal,
      (trx, tenantId) => items.create(trx, tenantId, input, principal.userId),
      MANAGERS
    )
    return ctx.response.created(item)
  }

  async show(ctx: HttpContext) {
    return inActiveTenant(principalOf(ctx), async (trx) =>
      presentItem(await items.find(trx, ctx.params.sku))
    )
  }

  async update(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(itemUpdateValidator)
    return inActiveTenant(
      principalOf(ctx),
      (trx) => items.update(trx, ctx.params.sku, input),
      MANAGERS
    )
  }

  async adjust(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(adjustmentValidator)
    if (input.delta === 0) {
      throw new ProblemException(422, 'validation_failed', 'An adjustment must change the stock.', [
        { field: 'delta', rule: 'notZero', message: 'Must not be 0' },
      ])
    }
    const principal = principalOf(ctx)
    const item = await inActiveTenant(
      principal,
      (trx, tenantId) => items.adjust(trx, tenantId, ctx.params.sku, input, principal.userId),
      MANAGERS
    )
    return ctx.response.created(item)
  }

  async ledger(ctx: HttpContext) {
    return {
      data: await inActiveTenant(principalOf(ctx), (trx) => items.ledgerOf(trx, ctx.params.sku)),
    }
  }
}
