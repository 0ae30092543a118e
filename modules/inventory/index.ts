/*
| Public face of the inventory: its events (orders and notifications react to
| them) and the catalog check orders makes when an order is placed.
*/
import '#modules/inventory/events'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { items } from '#modules/inventory/services/stock'

export type { ReservedLine, Shortage } from '#modules/inventory/events'

export const catalog = {
  /**
   * For the tenant of the unit of work: the SKUs among these it does not sell
   * (unknown or inactive), and the currencies the others are priced in.
   */
  saleability(trx: TransactionClientContract, skus: string[]) {
    return items.saleability(trx, skus)
  },
}
