import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/**
 * Read state per user: a tenant-wide notification read by one member used to
 * be read for everyone (read_at sat on the notification). A row here says
 * that this user read that notification, and when (created_at). Reads of
 * personal notifications carry over; who read a tenant-wide one was never
 * recorded, so those start unread for everyone.
 */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, 'notifications_reads', (table) => {
      table
        .uuid('notification_id')
        .notNullable()
        .references('notifications_notifications.id')
        .onDelete('CASCADE')
      table.uuid('user_id').notNullable()
      table.unique(['notification_id', 'user_id'])
      table.index(['tenant_id', 'user_id'])
    })
    this.schema.raw(
      `INSERT INTO notifications_reads (id, tenant_id, notification_id, user_id, created_at, updated_at)
       SELECT gen_random_uuid(), tenant_id, id, user_id, read_at, read_at
         FROM notifications_notifications WHERE user_id IS NOT NULL AND read_at IS NOT NULL`
    )
    this.schema.alterTable('notifications_notifications', (table) => {
      table.dropColumn('read_at')
    })
  }

  async down() {
    this.schema.alterTable('notifications_notifications', (table) => {
      table.timestamp('read_at', { useTz: true })
    })
    this.schema.dropTable('notifications_reads')
  }
}
