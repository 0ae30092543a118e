import { BaseSchema } from '@adonisjs/lucid/schema'

/** Stored answers for Idempotency-Key requests (app/middleware/idempotency_middleware.ts). */
export default class extends BaseSchema {
  protected tableName = 'idempotency_keys'

  async up() {
    this.schema.createTable(this.tableName, (table) => {
      table.uuid('id').primary()
      table.string('principal', 200).notNullable()
      table.string('route', 300).notNullable()
      table.string('key', 255).notNullable()
      table.string('request_hash', 64).notNullable()
      table.string('state', 16).notNullable().defaultTo('processing')
      table.integer('response_status')
      table.jsonb('response_headers')
      table.jsonb('response_body')
      table.timestamp('locked_until', { useTz: true }).notNullable()
      table.timestamp('expires_at', { useTz: true }).notNullable()
      table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.unique(['principal', 'route', 'key'])
      table.index(['expires_at'])
    })
  }

  async down() {
    this.schema.dropTable(this.tableName)
  }
}
