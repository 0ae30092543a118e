import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/** Long-running work (exports, reindexing, AI generation, imports) with progress (DESIGN.md §6). */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, 'platform_operations', (table) => {
      table.string('kind', 80).notNullable()
      table.string('status', 16).notNullable().defaultTo('queued')
      table.integer('progress').notNullable().defaultTo(0)
      table.string('message', 300)
      table.jsonb('input').notNullable().defaultTo('{}')
      table.jsonb('result')
      table.jsonb('error')
      table.uuid('created_by')
      table.boolean('cancel_requested').notNullable().defaultTo(false)
      table.integer('attempts').notNullable().defaultTo(0)
      table.timestamp('available_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.timestamp('started_at', { useTz: true })
      table.timestamp('finished_at', { useTz: true })
    })
    this.schema.raw(
      `ALTER TABLE platform_operations ADD CONSTRAINT platform_operations_status_check
         CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled'))`
    )
    this.schema.raw(
      `CREATE INDEX platform_operations_due ON platform_operations (available_at) WHERE status IN ('queued', 'running')`
    )
  }

  async down() {
    this.schema.dropTable('platform_operations')
  }
}
