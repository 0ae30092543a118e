import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * Who created each API key, so the key can be revoked when that member leaves
 * the tenant (identity.member_removed). Keys created before this have none.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('gateway_keys', (table) => {
      table.uuid('created_by')
      table.index(['tenant_id', 'created_by'])
    })
  }

  async down() {
    this.schema.alterTable('gateway_keys', (table) => {
      table.dropColumn('created_by')
    })
  }
}
