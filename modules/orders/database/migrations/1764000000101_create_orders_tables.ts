import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/**
 * - orders_orders: one row per order, its lines (as placed) and, once stock
 *   is reserved, the priced lines and total.
 * - orders_status_history: every transition, for GET /orders/:id and audits.
 */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, 'orders_orders', (table) => {
      table.string('status', 16).notNullable()
      table.string('customer_email', 254).notNullable()
      table.string('note', 1000)
      table.jsonb('lines').notNullable()
      table.jsonb('priced_lines')
      table.bigInteger('total_minor')
      table.string('currency', 3)
      table.jsonb('shortages')
      table.uuid('placed_by')
      table.index(['tenant_id', 'created_at'])
      table.index(['tenant_id', 'status', 'created_at'])
    })
    this.schema.raw(
      `ALTER TABLE orders_orders ADD CONSTRAINT orders_orders_status_check
         CHECK (status IN ('pending', 'confirmed', 'rejected', 'cancelled', 'fulfilled'))`
    )

    createTenantTable(this, 'orders_status_history', (table) => {
      table.uuid('order_id').notNullable().references('orders_orders.id').onDelete('CASCADE')
      table.string('from_status', 16)
      table.string('to_status', 16).notNullable()
      table.string('reason', 300)
      table.uuid('actor_user_id')
      table.index(['order_id', 'created_at'])
    })
  }

  async down() {
    this.schema.dropTable('orders_status_history')
    this.schema.dropTable('orders_orders')
  }
}
