import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { paginate, type PageRequest } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { startOperation } from '#app/operations/operations'
import { operationsService } from '#app/operations/service'
import { IMPORT_KIND, parseImport } from '#modules/inventory/jobs/import_items'
import Item from '#modules/inventory/models/item'
import { items, type ItemInput } from '#modules/inventory/services/stock'

/**
 * The catalog's use cases, each its own unit of work in the actor's tenant
 * (ItemPolicy has decided who may).
 */
export const catalogAdmin = {
  list(actor: TenantActor, filters: { lowStock?: number } & PageRequest) {
    return inActiveTenant(
      actor,
      (trx) => {
        const query = Item.query({ client: trx }).where('tenant_id', actor.tenantId)
        // Low stock: what is left to sell is at or below the threshold.
        if (filters.lowStock !== undefined) {
          query.whereRaw('on_hand - reserved <= ?', [filters.lowStock])
        }
        return paginate(
          query,
          filters,
          { direction: 'asc', sort: { column: 'sku', kind: 'text', value: (item) => item.sku } },
          (item) => item.serialize()
        )
      },
      { readOnly: true }
    )
  },

  async show(actor: TenantActor, sku: string) {
    const item = await inActiveTenant(actor, (trx) => items.find(trx, sku), { readOnly: true })
    return item.serialize()
  },

  async create(actor: TenantActor, input: ItemInput) {
    const item = await inActiveTenant(actor, (trx, tenantId) =>
      items.create(trx, tenantId, input, actor.userId)
    )
    return item.serialize()
  },

  async update(actor: TenantActor, sku: string, input: Partial<Omit<ItemInput, 'sku' | 'onHand'>>) {
    const item = await inActiveTenant(actor, (trx) => items.update(trx, sku, input))
    return item.serialize()
  },

  async adjust(actor: TenantActor, sku: string, input: { delta: number; reason: string }) {
    if (input.delta === 0) {
      throw new ProblemException(422, 'validation_failed', 'An adjustment must change the stock.', [
        { field: 'delta', rule: 'notZero', message: 'Must not be 0' },
      ])
    }
    const item = await inActiveTenant(actor, (trx, tenantId) =>
      items.adjust(trx, tenantId, sku, input, actor.userId)
    )
    return item.serialize()
  },

  /** Queues a CSV import (checked here, so a bad file is a 422 now); 202 with the operation. */
  async startImport(actor: TenantActor, csv: string) {
    parseImport(csv)
    const id = await inActiveTenant(actor, (trx, tenantId) =>
      startOperation(trx, {
        tenantId,
        kind: IMPORT_KIND,
        input: { csv, actorUserId: actor.userId },
        createdBy: actor.userId,
      })
    )
    const operation = await operationsService.find(actor, id)
    return operation.serialize()
  },

  async ledger(actor: TenantActor, sku: string) {
    const entries = await inActiveTenant(actor, (trx) => items.ledgerOf(trx, sku), {
      readOnly: true,
    })
    return entries.map((entry) => entry.serialize())
  },
}
