import { column, computed, hasMany } from '@adonisjs/lucid/orm'
import type { HasMany } from '@adonisjs/lucid/types/relations'
import { int8, internal, jsonb } from '#app/platform/columns'
import { OrdersOrderSchema } from '#database/schema'
import type { ReservedLine, Shortage } from '#modules/inventory/index'
import type { OrderLine } from '#modules/orders/events'
import OrderStatusChange from '#modules/orders/models/order_status_change'

export type OrderStatus = 'pending' | 'confirmed' | 'rejected' | 'cancelled' | 'fulfilled'

/**
 * An order. Its lines are what was asked for until the inventory prices them;
 * clients always see one `lines` array, the priced one once there is one.
 */
export default class Order extends OrdersOrderSchema {
  static table = 'orders_orders'

  @column(internal)
  declare tenantId: string
  @column(internal)
  declare placedBy: string | null
  @column()
  declare status: OrderStatus
  @column({ ...jsonb, ...internal })
  declare lines: OrderLine[]
  @column({ ...jsonb, ...internal })
  declare pricedLines: ReservedLine[] | null
  @column(int8)
  declare totalMinor: number | null
  @column(jsonb)
  declare shortages: Shortage[] | null

  @hasMany(() => OrderStatusChange, { serializeAs: 'history' })
  declare history: HasMany<typeof OrderStatusChange>

  @computed({ serializeAs: 'lines' })
  get shownLines(): Array<OrderLine | ReservedLine> {
    return this.pricedLines ?? this.lines
  }
}
