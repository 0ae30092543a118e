import { BaseSchema } from '@adonisjs/lucid/schema'

/** Order lists page newest first by the UUIDv7 id within a tenant (app/http/pagination.ts). */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('orders_orders', (table) => {
      table.index(['tenant_id', 'id'], 'orders_orders_tenant_id_id_index')
    })
  }

  async down() {
    this.schema.alterTable('orders_orders', (table) => {
      table.dropIndex(['tenant_id', 'id'], 'orders_orders_tenant_id_id_index')
    })
  }
}
