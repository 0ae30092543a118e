import { BaseSchema } from '@adonisjs/lucid/schema'

/** GET /api/v1/operations pages newest first by id, often for one member (created_by). */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('platform_operations', (table) => {
      table.index(['tenant_id', 'created_by', 'id'], 'platform_operations_tenant_creator_id_index')
    })
  }

  async down() {
    this.schema.alterTable('platform_operations', (table) => {
      table.dropIndex(
        ['tenant_id', 'created_by', 'id'],
        'platform_operations_tenant_creator_id_index'
      )
    })
  }
}
