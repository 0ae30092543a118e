import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * Whether a tenant uses the platform providers (OLLAMA_HOST, OPENAI_BASE_URL):
 * on unless a tenant admin turns them off. Kept with the tenant's limits, which
 * routing already reads in the same statement.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('gateway_tenant_limits', (table) => {
      table.boolean('platform_providers').notNullable().defaultTo(true)
    })
  }

  async down() {
    this.schema.alterTable('gateway_tenant_limits', (table) => {
      table.dropColumn('platform_providers')
    })
  }
}
