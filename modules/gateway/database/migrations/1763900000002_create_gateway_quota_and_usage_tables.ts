import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable, enableTenantIsolation } from '#app/tenancy/migration'

/**
 * - gateway_quota_counters: fixed-window counters for the PostgreSQL quota
 *   store (Redis holds them when configured); keys name their key or tenant.
 * - gateway_tenant_limits: the tenant-wide quotas and monthly budget.
 * - gateway_usage: one row per request, written in batches off the request path.
 * - gateway_usage_daily: per tenant, day, key and model, upserted with each
 *   batch, so reports read a few rows however many requests there were.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.createTable('gateway_quota_counters', (table) => {
      table.string('key', 200).primary()
      table.bigInteger('used').notNullable().defaultTo(0)
      table.timestamp('expires_at', { useTz: true }).notNullable().index()
    })

    this.schema.createTable('gateway_tenant_limits', (table) => {
      table.uuid('tenant_id').primary()
      table.jsonb('limits').notNullable().defaultTo('{}')
      table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(this.now())
    })
    enableTenantIsolation(this, 'gateway_tenant_limits')

    createTenantTable(this, 'gateway_usage', (table) => {
      table.uuid('key_id')
      table.uuid('user_id')
      table.string('model_alias', 120).notNullable()
      table.uuid('deployment_id')
      table.string('kind', 16).notNullable()
      table.integer('prompt_tokens').notNullable().defaultTo(0)
      table.integer('completion_tokens').notNullable().defaultTo(0)
      table.bigInteger('cost_micro').notNullable().defaultTo(0)
      table.string('currency', 3).notNullable()
      table.integer('latency_ms').notNullable()
      table.integer('ttft_ms')
      table.integer('status').notNullable()
      table.string('request_id', 128)
      table.index(['tenant_id', 'created_at'])
    })

    this.schema.createTable('gateway_usage_daily', (table) => {
      table.uuid('tenant_id').notNullable()
      table.date('day').notNullable()
      // The nil uuid stands for "no key" (a module acting for a user), so the key stays in the primary key.
      table.uuid('key_id').notNullable()
      table.string('model_alias', 120).notNullable()
      table.string('currency', 3).notNullable()
      table.bigInteger('requests').notNullable().defaultTo(0)
      table.bigInteger('errors').notNullable().defaultTo(0)
      table.bigInteger('prompt_tokens').notNullable().defaultTo(0)
      table.bigInteger('completion_tokens').notNullable().defaultTo(0)
      table.bigInteger('cost_micro').notNullable().defaultTo(0)
      table.bigInteger('latency_ms_sum').notNullable().defaultTo(0)
      table.primary(['tenant_id', 'day', 'key_id', 'model_alias', 'currency'])
    })
    enableTenantIsolation(this, 'gateway_usage_daily')
  }

  async down() {
    this.schema.dropTable('gateway_usage_daily')
    this.schema.dropTable('gateway_usage')
    this.schema.dropTable('gateway_tenant_limits')
    this.schema.dropTable('gateway_quota_counters')
  }
}
