import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/** A tenant's chat settings: which gateway model aliases chat may use (null: all of them). */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, 'chat_settings', (table) => {
      table.jsonb('allowed_models')
      table.unique(['tenant_id'])
    })
  }

  async down() {
    this.schema.dropTable('chat_settings')
  }
}
