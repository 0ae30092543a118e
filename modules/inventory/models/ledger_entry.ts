import { column } from '@adonisjs/lucid/orm'
import type { DateTime } from 'luxon'
import { internal } from '#app/platform/columns'
import { InventoryLedgerSchema } from '#database/schema'

export type LedgerKind = 'adjustment' | 'reservation' | 'release' | 'commit'

/** One append-only stock movement; serialized as {kind, onHandDelta, reservedDelta, reason, orderId, actorUserId, at}. */
export default class LedgerEntry extends InventoryLedgerSchema {
  static table = 'inventory_ledger'

  @column({ isPrimary: true, ...internal })
  declare id: string
  @column(internal)
  declare tenantId: string
  @column(internal)
  declare sku: string
  @column()
  declare kind: LedgerKind
  @column.dateTime({ autoCreate: true, serializeAs: 'at' })
  declare createdAt: DateTime
  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime
}
