import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/**
 * - notifications_notifications: in-app notifications of a tenant (for one
 *   user, or for everyone in it when user_id is null), read or not.
 * - notifications_emails: mail to send, written in the event's unit of work
 *   and sent by a background task (so a redelivered event sends nothing twice).
 * - notifications_webhooks: endpoints, the event types they want, their
 *   signing secret (encrypted) and failure streak.
 * - notifications_webhook_deliveries: one per (webhook, event), with its
 *   attempts, last answer and next try: the delivery log.
 */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, 'notifications_notifications', (table) => {
      table.uuid('user_id')
      table.string('kind', 80).notNullable()
      table.string('title', 200).notNullable()
      table.string('body', 2000).notNullable()
      table.jsonb('data').notNullable().defaultTo('{}')
      table.uuid('event_id')
      table.timestamp('read_at', { useTz: true })
      table.index(['tenant_id', 'created_at'])
    })

    createTenantTable(this, 'notifications_emails', (table) => {
      table.string('to', 254).notNullable()
      table.string('subject', 300).notNullable()
      table.text('text').notNullable()
      table.uuid('event_id')
      table.string('status', 16).notNullable().defaultTo('pending')
      table.integer('attempts').notNullable().defaultTo(0)
      table.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.text('last_error')
      table.timestamp('sent_at', { useTz: true })
    })
    this.schema.raw(
      `CREATE INDEX notifications_emails_due ON notifications_emails (next_attempt_at) WHERE status = 'pending'`
    )

    createTenantTable(this, 'notifications_webhooks', (table) => {
      table.string('url', 2000).notNullable()
      table.specificType('event_types', 'text[]').notNullable()
      table.text('secret_encrypted').notNullable()
      table.string('description', 200)
      table.boolean('active').notNullable().defaultTo(true)
      table.integer('consecutive_failures').notNullable().defaultTo(0)
      table.timestamp('disabled_at', { useTz: true })
      table.string('disabled_reason', 300)
      table.timestamp('deleted_at', { useTz: true })
    })

    createTenantTable(this, 'notifications_webhook_deliveries', (table) => {
      table
        .uuid('webhook_id')
        .notNullable()
        .references('notifications_webhooks.id')
        .onDelete('CASCADE')
      table.uuid('event_id').notNullable()
      table.string('event_type', 120).notNullable()
      table.jsonb('payload').notNullable()
      table.string('status', 16).notNullable().defaultTo('pending')
      table.integer('attempts').notNullable().defaultTo(0)
      table.timestamp('next_attempt_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.integer('last_status_code')
      table.string('last_error', 500)
      table.integer('last_duration_ms')
      table.timestamp('delivered_at', { useTz: true })
      table.unique(['webhook_id', 'event_id'])
      table.index(['webhook_id', 'created_at'])
    })
    this.schema.raw(
      `CREATE INDEX notifications_webhook_deliveries_due ON notifications_webhook_deliveries (next_attempt_at) WHERE status = 'pending'`
    )
  }

  async down() {
    this.schema.dropTable('notifications_webhook_deliveries')
    this.schema.dropTable('notifications_webhooks')
    this.schema.dropTable('notifications_emails')
    this.schema.dropTable('notifications_notifications')
  }
}
