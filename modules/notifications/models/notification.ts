import { column, computed } from '@adonisjs/lucid/orm'
import { DateTime } from 'luxon'
import { internal, jsonb } from '#app/platform/columns'
import { NotificationsNotificationSchema } from '#database/schema'

/**
 * An in-app notification: one member's, or (userId null) the whole tenant's.
 * Read state is per user (notifications_reads); queries for a user select it
 * as `read_at`, which serializes as `readAt`.
 */
export default class Notification extends NotificationsNotificationSchema {
  static table = 'notifications_notifications'

  @column(internal)
  declare tenantId: string
  @column(internal)
  declare eventId: string | null
  @column(jsonb)
  declare data: Record<string, unknown>
  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime

  @computed()
  get readAt(): string | null {
    const value: unknown = this.$extras.read_at
    return value instanceof Date ? DateTime.fromJSDate(value).toISO() : null
  }
}
