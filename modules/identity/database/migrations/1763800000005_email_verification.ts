import { BaseSchema } from '@adonisjs/lucid/schema'
import { grantAppAccess } from '#app/tenancy/migration'

/**
 * Email verification: an account proves it owns its address before anyone
 * can add it to a tenant by that address. Accounts that existed before this
 * are unverified (nothing proved them); operators' accounts are verified
 * when provisioned. Tokens are stored hashed and used once.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('identity_users', (table) => {
      table.timestamp('email_verified_at', { useTz: true })
    })
    this.schema.createTable('identity_email_verifications', (table) => {
      table.uuid('id').primary()
      table.uuid('user_id').notNullable().references('identity_users.id').onDelete('CASCADE')
      // The address being verified: a token proves nothing about an address changed since.
      table.string('email', 254).notNullable()
      table.string('token_hash', 64).notNullable().unique()
      table.timestamp('expires_at', { useTz: true }).notNullable()
      table.timestamp('used_at', { useTz: true })
      table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.index(['user_id'])
    })
    grantAppAccess(this, 'identity_email_verifications')
  }

  async down() {
    this.schema.dropTable('identity_email_verifications')
    this.schema.alterTable('identity_users', (table) => {
      table.dropColumn('email_verified_at')
    })
  }
}
