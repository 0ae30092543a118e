import { BaseSchema } from '@adonisjs/lucid/schema'

/** Notification lists page newest first by the UUIDv7 id within a tenant (app/http/pagination.ts). */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('notifications_notifications', (table) => {
      table.index(['tenant_id', 'id'], 'notifications_notifications_tenant_id_id_index')
    })
  }

  async down() {
    this.schema.alterTable('notifications_notifications', (table) => {
      table.dropIndex(['tenant_id', 'id'], 'notifications_notifications_tenant_id_id_index')
    })
  }
}
