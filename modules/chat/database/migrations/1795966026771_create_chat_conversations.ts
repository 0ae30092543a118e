import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/**
 * Conversations: one user's, inside a tenant (row-level security keeps
 * tenants apart; every query also filters by the owner). Lists page by the
 * UUIDv7 id per owner, hence the index.
 */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, 'chat_conversations', (table) => {
      table.uuid('user_id').notNullable()
      table.string('title', 200).notNullable()
      table.boolean('pinned').notNullable().defaultTo(false)
      table.timestamp('archived_at', { useTz: true })
      // The last message of the branch the user chose; set as messages arrive.
      table.uuid('active_leaf_id')
      table.index(['tenant_id', 'user_id', 'id'])
    })
  }

  async down() {
    this.schema.dropTable('chat_conversations')
  }
}
