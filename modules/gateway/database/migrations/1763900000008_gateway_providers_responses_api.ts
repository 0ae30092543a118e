import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * How a provider serves /v1/responses: `translate` (to chat completions and
 * back — what Ollama and most OpenAI-compatible servers need) or `native`
 * (passed through to its own /responses, for OpenAI and servers that have it).
 */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('gateway_providers', (table) => {
      table.string('responses_api', 10).notNullable().defaultTo('translate')
    })
    this.schema.raw(
      `ALTER TABLE gateway_providers ADD CONSTRAINT gateway_providers_responses_api_check
         CHECK (responses_api IN ('translate', 'native') AND (responses_api = 'translate' OR kind <> 'ollama'))`
    )
  }

  async down() {
    this.schema.alterTable('gateway_providers', (table) => {
      table.dropColumn('responses_api')
    })
  }
}
