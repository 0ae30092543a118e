import { BaseSchema } from '@adonisjs/lucid/schema'
import { APP_ROLE } from '#app/tenancy/sql'
import { enableTenantIsolation } from '#app/tenancy/migration'

/**
 * The messaging kernel's tables (DESIGN.md §6):
 * - messaging_outbox: integration events, inserted in the same transaction as
 *   the change they describe; the relay dispatches them.
 * - messaging_deliveries: one row per (event, subscriber) for the PostgreSQL
 *   transport, with its own retries and dead-letter state.
 * - messaging_inbox: (event, subscriber) pairs already handled, written in the
 *   handler's transaction, so a redelivery has no second effect.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.createTable('messaging_outbox', (table) => {
      table.uuid('id').primary()
      table.string('type', 120).notNullable()
      table.integer('version').notNullable()
      table.uuid('tenant_id')
      table.string('aggregate_id', 200)
      table.jsonb('payload').notNullable()
      table.timestamp('occurred_at', { useTz: true }).notNullable()
      table.timestamp('available_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.timestamp('dispatched_at', { useTz: true })
      table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.now())
    })
    this.schema.raw(
      `CREATE INDEX messaging_outbox_pending ON messaging_outbox (available_at) WHERE dispatched_at IS NULL`
    )
    // Tenant code may only append its own tenant's events; the relay reads as the platform.
    enableTenantIsolation(this, 'messaging_outbox')
    this.schema.raw(`REVOKE SELECT, UPDATE, DELETE ON messaging_outbox FROM ${APP_ROLE}`)

    this.schema.createTable('messaging_deliveries', (table) => {
      table.uuid('id').primary()
      table.uuid('event_id').notNullable().references('messaging_outbox.id').onDelete('CASCADE')
      table.string('subscriber', 160).notNullable()
      table.string('state', 16).notNullable().defaultTo('pending')
      table.integer('attempts').notNullable().defaultTo(0)
      table.timestamp('available_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.text('last_error')
      table.timestamp('handled_at', { useTz: true })
      table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.unique(['event_id', 'subscriber'])
    })
    this.schema.raw(
      `CREATE INDEX messaging_deliveries_pending ON messaging_deliveries (available_at) WHERE state = 'pending'`
    )
    this.schema.raw(
      `ALTER TABLE messaging_deliveries ADD CONSTRAINT messaging_deliveries_state_check
         CHECK (state IN ('pending', 'done', 'dead'))`
    )

    this.schema.createTable('messaging_inbox', (table) => {
      table.uuid('event_id').notNullable()
      table.string('subscriber', 160).notNullable()
      table.timestamp('handled_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.primary(['event_id', 'subscriber'])
    })
    this.schema.raw(`GRANT SELECT, INSERT ON messaging_inbox TO ${APP_ROLE}`)
  }

  async down() {
    this.schema.dropTable('messaging_inbox')
    this.schema.dropTable('messaging_deliveries')
    this.schema.dropTable('messaging_outbox')
  }
}
