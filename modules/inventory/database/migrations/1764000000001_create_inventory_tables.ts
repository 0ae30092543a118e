import { BaseSchema } from '@adonisjs/lucid/schema'
import { APP_ROLE } from '#app/tenancy/sql'
import { createTenantTable } from '#app/tenancy/migration'

/**
 * - inventory_items: the catalog and its stock; available = on_hand − reserved,
 *   never negative (constraints, not just code).
 * - inventory_ledger: every stock movement, append-only (adjustments, and the
 *   saga's reservations, releases and commits).
 * - inventory_reservations: what each order holds, so release and commit are
 *   idempotent and know their quantities.
 */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, 'inventory_items', (table) => {
      table.string('sku', 64).notNullable()
      table.string('name', 200).notNullable()
      table.bigInteger('price_minor').notNullable()
      table.string('currency', 3).notNullable()
      table.boolean('active').notNullable().defaultTo(true)
      table.integer('on_hand').notNullable().defaultTo(0)
      table.integer('reserved').notNullable().defaultTo(0)
      table.unique(['tenant_id', 'sku'])
    })
    this.schema.raw(
      `ALTER TABLE inventory_items ADD CONSTRAINT inventory_items_stock_check
         CHECK (on_hand >= 0 AND reserved >= 0 AND reserved <= on_hand)`
    )

    createTenantTable(this, 'inventory_ledger', (table) => {
      table.string('sku', 64).notNullable()
      table.string('kind', 16).notNullable()
      table.integer('on_hand_delta').notNullable().defaultTo(0)
      table.integer('reserved_delta').notNullable().defaultTo(0)
      table.string('reason', 300)
      table.uuid('actor_user_id')
      table.uuid('order_id')
      table.index(['tenant_id', 'sku', 'created_at'])
    })
    this.schema.raw(`REVOKE UPDATE, DELETE ON inventory_ledger FROM ${APP_ROLE}`)

    createTenantTable(this, 'inventory_reservations', (table) => {
      table.uuid('order_id').notNullable()
      table.string('status', 16).notNullable()
      table.jsonb('lines').notNullable()
      table.unique(['tenant_id', 'order_id'])
    })
  }

  async down() {
    this.schema.dropTable('inventory_reservations')
    this.schema.dropTable('inventory_ledger')
    this.schema.dropTable('inventory_items')
  }
}
