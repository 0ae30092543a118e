import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/**
 * The gateway's configuration, per tenant (row-level security on each):
 * - gateway_providers: where requests go (Ollama or an OpenAI-compatible
 *   server); the upstream API key is encrypted with APP_KEY.
 * - gateway_models: an alias clients name (`chat-default`), its routing
 *   strategy and prices; gateway_deployments: its ordered upstream targets.
 * - gateway_keys: API keys, stored as SHA-256 of the secret; `previous_*`
 *   keeps a rotated-out secret valid until its grace period ends.
 */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, 'gateway_providers', (table) => {
      table.string('name', 80).notNullable()
      table.string('kind', 32).notNullable()
      table.string('base_url', 500).notNullable()
      table.text('api_key_encrypted')
      table.integer('timeout_ms').notNullable().defaultTo(60_000)
      table.integer('max_retries').notNullable().defaultTo(2)
      table.unique(['tenant_id', 'name'])
    })
    this.schema.raw(
      `ALTER TABLE gateway_providers ADD CONSTRAINT gateway_providers_kind_check CHECK (kind IN ('ollama', 'openai-compatible'))`
    )

    createTenantTable(this, 'gateway_models', (table) => {
      table.string('alias', 120).notNullable()
      table.string('strategy', 16).notNullable().defaultTo('priority')
      table.bigInteger('input_price_per_mtok').notNullable().defaultTo(0)
      table.bigInteger('output_price_per_mtok').notNullable().defaultTo(0)
      table.string('currency', 3).notNullable().defaultTo('USD')
      table.unique(['tenant_id', 'alias'])
    })
    this.schema.raw(
      `ALTER TABLE gateway_models ADD CONSTRAINT gateway_models_strategy_check CHECK (strategy IN ('priority', 'weighted'))`
    )

    createTenantTable(this, 'gateway_deployments', (table) => {
      table.uuid('model_id').notNullable().references('gateway_models.id').onDelete('CASCADE')
      table
        .uuid('provider_id')
        .notNullable()
        .references('gateway_providers.id')
        .onDelete('RESTRICT')
      table.string('upstream_model', 200).notNullable()
      table.integer('weight').notNullable().defaultTo(1)
      table.integer('position').notNullable()
      table.index(['model_id', 'position'])
    })

    createTenantTable(this, 'gateway_keys', (table) => {
      table.uuid('user_id')
      table.string('name', 120).notNullable()
      table.string('prefix', 16).notNullable()
      table.string('secret_hash', 64).notNullable().unique()
      table.string('previous_secret_hash', 64).unique()
      table.timestamp('previous_valid_until', { useTz: true })
      table.specificType('scopes', 'text[]').notNullable()
      table.specificType('allowed_models', 'text[]')
      table.jsonb('limits').notNullable().defaultTo('{}')
      table.jsonb('metadata').notNullable().defaultTo('{}')
      table.timestamp('expires_at', { useTz: true })
      table.timestamp('revoked_at', { useTz: true })
      table.timestamp('last_used_at', { useTz: true })
    })
  }

  async down() {
    this.schema.dropTable('gateway_keys')
    this.schema.dropTable('gateway_deployments')
    this.schema.dropTable('gateway_models')
    this.schema.dropTable('gateway_providers')
  }
}
