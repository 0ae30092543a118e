import { column, computed } from '@adonisjs/lucid/orm'
import type { DateTime } from 'luxon'
import { int8, internal } from '#app/platform/columns'
import { InventoryItemSchema } from '#database/schema'

/** A SKU of the tenant's catalog with its stock; `available` is what is left to sell. */
export default class Item extends InventoryItemSchema {
  static table = 'inventory_items'

  @column({ isPrimary: true, ...internal })
  declare id: string
  @column(internal)
  declare tenantId: string
  @column(int8)
  declare priceMinor: number
  @column.dateTime({ autoCreate: true })
  declare createdAt: DateTime

  @computed()
  get available() {
    return this.onHand - this.reserved
  }
}
