import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/**
 * - gateway_models.unknown_params: what an alias does with request parameters
 *   neither Atrium nor OpenAI's published API knows (forward, drop, reject).
 * - gateway_responses: /v1/responses stored for `previous_response_id` and
 *   `item_reference` (clients such as the AI SDK refer back to earlier output
 *   items by id). Only this request's new input is stored; the conversation is
 *   the chain walked through previous_response_id. Expired rows are purged by
 *   the maintenance pass.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('gateway_models', (table) => {
      table.string('unknown_params', 8).notNullable().defaultTo('forward')
    })
    this.schema.raw(
      `ALTER TABLE gateway_models ADD CONSTRAINT gateway_models_unknown_params_check
         CHECK (unknown_params IN ('forward', 'drop', 'reject'))`
    )

    createTenantTable(this, 'gateway_responses', (table) => {
      // Only the key that created a response may read it or build on it.
      table.uuid('key_id')
      table.uuid('previous_response_id')
      table.string('model_alias', 120).notNullable()
      table.jsonb('input_messages').notNullable()
      table.jsonb('response').notNullable()
      table.timestamp('expires_at', { useTz: true }).notNullable().index()
    })
  }

  async down() {
    this.schema.dropTable('gateway_responses')
    this.schema.alterTable('gateway_models', (table) => {
      table.dropColumn('unknown_params')
    })
  }
}
