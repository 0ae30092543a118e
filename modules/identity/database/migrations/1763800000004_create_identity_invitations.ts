import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/** Invitations for people who may not have an account yet; the token is stored hashed. */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, 'identity_invitations', (table) => {
      table.foreign('tenant_id').references('identity_tenants.id').onDelete('CASCADE')
      table.string('email', 254).notNullable()
      table.string('role', 16).notNullable()
      table.string('token_hash', 64).notNullable().unique()
      table.uuid('invited_by').references('identity_users.id').onDelete('SET NULL')
      table.timestamp('expires_at', { useTz: true }).notNullable()
      table.timestamp('accepted_at', { useTz: true })
      table.uuid('accepted_by')
      table.timestamp('revoked_at', { useTz: true })
    })
    this.schema.raw(
      `ALTER TABLE identity_invitations ADD CONSTRAINT identity_invitations_role_check
         CHECK (role IN ('owner', 'admin', 'agent', 'member'))`
    )
  }

  async down() {
    this.schema.dropTable('identity_invitations')
  }
}
