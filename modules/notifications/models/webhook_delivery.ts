import { column, computed } from '@adonisjs/lucid/orm'
import type { DateTime } from 'luxon'
import { internal } from '#app/platform/columns'
import { NotificationsWebhookDeliverySchema } from '#database/schema'

export type DeliveryStatus = 'pending' | 'delivered' | 'failed'

/** One event's delivery to one webhook: its attempts and last outcome (the delivery log). */
export default class WebhookDelivery extends NotificationsWebhookDeliverySchema {
  static table = 'notifications_webhook_deliveries'

  @column(internal)
  declare tenantId: string
  @column(internal)
  declare webhookId: string
  @column(internal)
  declare payload: unknown
  @column()
  declare status: DeliveryStatus
  @column.dateTime(internal)
  declare nextAttemptAt: DateTime
  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime

  /** Only a pending delivery has a next attempt. */
  @computed({ serializeAs: 'nextAttemptAt' })
  get nextAttempt(): string | null {
    return this.status === 'pending' ? this.nextAttemptAt.toISO() : null
  }
}
