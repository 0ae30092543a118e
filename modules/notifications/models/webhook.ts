import { column } from '@adonisjs/lucid/orm'
import type { DateTime } from 'luxon'
import { internal } from '#app/platform/columns'
import { NotificationsWebhookSchema } from '#database/schema'

/** A tenant's webhook endpoint. The signing secret is stored encrypted and shown once, at creation. */
export default class Webhook extends NotificationsWebhookSchema {
  static table = 'notifications_webhooks'

  @column(internal)
  declare tenantId: string
  @column(internal)
  declare secretEncrypted: string
  /** The secret before the last rotation, still signing until previousSecretExpiresAt. */
  @column(internal)
  declare previousSecretEncrypted: string | null
  @column()
  declare eventTypes: string[]
  @column.dateTime(internal)
  declare deletedAt: DateTime | null
  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime
}
