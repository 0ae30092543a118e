import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable, grantAppAccess } from '#app/tenancy/migration'

/**
 * Identity: users and tenants are global; memberships are tenant-owned (a user
 * also sees their own memberships in every tenant, through app.user_id);
 * refresh tokens, signing keys and revoked access tokens belong to the auth
 * machinery and are read by the identity service only.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.createTable('identity_tenants', (table) => {
      table.uuid('id').primary()
      table.string('name', 120).notNullable()
      table.string('slug', 80).notNullable().unique()
      table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(this.now())
    })
    grantAppAccess(this, 'identity_tenants')

    this.schema.createTable('identity_users', (table) => {
      table.uuid('id').primary()
      // Stored lower-cased; the unique index makes emails case-insensitively unique.
      table.string('email', 254).notNullable().unique()
      table.string('password_hash', 255).notNullable()
      table.string('name', 120).notNullable()
      table.boolean('is_superadmin').notNullable().defaultTo(false)
      table.timestamp('disabled_at', { useTz: true })
      table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(this.now())
    })
    grantAppAccess(this, 'identity_users')

    createTenantTable(
      this,
      'identity_memberships',
      (table) => {
        table.foreign('tenant_id').references('identity_tenants.id').onDelete('CASCADE')
        table.uuid('user_id').notNullable().references('identity_users.id').onDelete('CASCADE')
        table.string('role', 16).notNullable()
        table.unique(['tenant_id', 'user_id'])
        table.index(['user_id'])
      },
      { extraVisibility: 'user_id = app_current_user()' }
    )
    this.schema.raw(
      `ALTER TABLE identity_memberships ADD CONSTRAINT identity_memberships_role_check
         CHECK (role IN ('owner', 'admin', 'agent', 'member'))`
    )

    this.schema.createTable('identity_refresh_tokens', (table) => {
      table.uuid('id').primary()
      table.uuid('family_id').notNullable().index()
      table.uuid('user_id').notNullable().references('identity_users.id').onDelete('CASCADE')
      table.uuid('active_tenant_id').references('identity_tenants.id').onDelete('SET NULL')
      table.string('token_hash', 64).notNullable().unique()
      table.timestamp('used_at', { useTz: true })
      table.timestamp('revoked_at', { useTz: true })
      table.timestamp('expires_at', { useTz: true }).notNullable()
      table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.now())
    })
    grantAppAccess(this, 'identity_refresh_tokens')

    this.schema.createTable('identity_signing_keys', (table) => {
      table.string('kid', 64).primary()
      table.string('algorithm', 16).notNullable()
      table.jsonb('public_jwk').notNullable()
      // Encrypted with the app's encryption service (APP_KEY).
      table.text('private_jwk_encrypted').notNullable()
      table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.now())
      // Set on rotation: the key stops signing, and verifies until this moment.
      table.timestamp('retired_at', { useTz: true })
      table.timestamp('verify_until', { useTz: true })
    })

    this.schema.createTable('identity_revoked_access_tokens', (table) => {
      table.uuid('jti').primary()
      table.timestamp('expires_at', { useTz: true }).notNullable().index()
    })
    grantAppAccess(this, 'identity_revoked_access_tokens', 'SELECT, INSERT')
  }

  async down() {
    this.schema.dropTable('identity_revoked_access_tokens')
    this.schema.dropTable('identity_signing_keys')
    this.schema.dropTable('identity_refresh_tokens')
    this.schema.dropTable('identity_memberships')
    this.schema.dropTable('identity_users')
    this.schema.dropTable('identity_tenants')
  }
}
