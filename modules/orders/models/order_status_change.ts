import { column } from '@adonisjs/lucid/orm'
import type { DateTime } from 'luxon'
import { internal } from '#app/platform/columns'
import { OrdersStatusHistorySchema } from '#database/schema'
import type { OrderStatus } from '#modules/orders/models/order'

/** One step of an order's history; append-only, serialized as {from, to, reason, actorUserId, at}. */
export default class OrderStatusChange extends OrdersStatusHistorySchema {
  static table = 'orders_status_history'

  @column({ isPrimary: true, ...internal })
  declare id: string
  @column(internal)
  declare tenantId: string
  @column(internal)
  declare orderId: string
  @column({ serializeAs: 'from' })
  declare fromStatus: OrderStatus | null
  @column({ serializeAs: 'to' })
  declare toStatus: OrderStatus
  @column.dateTime({ autoCreate: true, serializeAs: 'at' })
  declare createdAt: DateTime
  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime
}
