import { BaseSchema } from '@adonisjs/lucid/schema'
import { enableTenantIsolation } from '#app/tenancy/migration'

/**
 * Security events. tenant_id is null for events that belong to no tenant
 * (a failed login for an unknown email, a key rotation); tenants see their
 * own events through RLS, the platform sees all.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.createTable('identity_audit_events', (table) => {
      table.uuid('id').primary()
      table.uuid('tenant_id').references('identity_tenants.id').onDelete('CASCADE')
      table.string('event', 64).notNullable()
      table.uuid('actor_user_id')
      table.uuid('subject_user_id')
      table.string('ip', 64)
      table.string('user_agent', 300)
      table.string('request_id', 128)
      table.jsonb('details').notNullable().defaultTo('{}')
      table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.index(['tenant_id', 'created_at'])
    })
    enableTenantIsolation(this, 'identity_audit_events')
  }

  async down() {
    this.schema.dropTable('identity_audit_events')
  }
}
