import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable } from '#app/tenancy/migration'

/**
 * Messages form a tree per conversation (`parent_id`): an edited question or
 * a regenerated reply is a sibling, never an overwrite. `search` is a stored
 * tsvector with a GIN index, so searching one's own messages does not scan.
 *
 * A generation is the background work that writes one assistant message: it
 * is claimed like a job (status, due_at as the lease), holds the quota ticket
 * reserved when the message was accepted and the prompt built then, and is
 * found again by the client's `client_request_id` so a retried send starts
 * nothing new.
 *
 * chat_quotas: a tenant default (user_id null) and per-user overrides.
 */
export default class extends BaseSchema {
  async up() {
    createTenantTable(this, 'chat_messages', (table) => {
      table
        .uuid('conversation_id')
        .notNullable()
        .references('id')
        .inTable('chat_conversations')
        .onDelete('CASCADE')
      table.uuid('user_id').notNullable()
      table.uuid('parent_id').references('id').inTable('chat_messages').onDelete('CASCADE')
      table.string('role', 16).notNullable()
      table.text('content').notNullable().defaultTo('')
      table.string('status', 16).notNullable().defaultTo('complete')
      table.string('model', 100)
      table.integer('prompt_tokens')
      table.integer('completion_tokens')
      table.string('error_code', 64)
      table.index(['tenant_id', 'conversation_id', 'id'])
      table.index(['parent_id'])
    })
    this.schema.raw(
      `ALTER TABLE chat_messages
         ADD CONSTRAINT chat_messages_role CHECK (role IN ('user', 'assistant')),
         ADD CONSTRAINT chat_messages_status CHECK (status IN ('complete', 'generating', 'cancelled', 'failed')),
         ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED`
    )
    this.schema.raw('CREATE INDEX chat_messages_search ON chat_messages USING gin (search)')

    createTenantTable(this, 'chat_generations', (table) => {
      table
        .uuid('conversation_id')
        .notNullable()
        .references('id')
        .inTable('chat_conversations')
        .onDelete('CASCADE')
      table.uuid('user_id').notNullable()
      table.string('client_request_id', 100).notNullable()
      table.uuid('user_message_id').notNullable()
      table
        .uuid('assistant_message_id')
        .notNullable()
        .references('id')
        .inTable('chat_messages')
        .onDelete('CASCADE')
      table.string('model', 100).notNullable()
      table.string('status', 16).notNullable().defaultTo('queued')
      table.boolean('cancel_requested').notNullable().defaultTo(false)
      // The job lease: when a queued one is due, or when a running one's runner is presumed dead.
      table.timestamp('due_at', { useTz: true }).notNullable().defaultTo(this.now())
      table.integer('attempts').notNullable().defaultTo(0)
      table.jsonb('ticket')
      table.jsonb('prompt')
      table.string('error_code', 64)
      table.timestamp('finished_at', { useTz: true })
      table.unique(['tenant_id', 'user_id', 'client_request_id'])
      table.index(['status', 'due_at'])
    })
    this.schema.raw(
      `ALTER TABLE chat_generations ADD CONSTRAINT chat_generations_status
         CHECK (status IN ('queued', 'running', 'completed', 'cancelled', 'failed'))`
    )

    createTenantTable(this, 'chat_quotas', (table) => {
      // null: the tenant's default for everyone without their own row.
      table.uuid('user_id')
      table.integer('messages_per_minute')
      table.bigInteger('tokens_per_day')
      table.boolean('disabled').notNullable().defaultTo(false)
    })
    this.schema.raw(
      // One default per tenant too: NULLs count as equal here (PostgreSQL 15).
      `ALTER TABLE chat_quotas ADD CONSTRAINT chat_quotas_one_per_user UNIQUE NULLS NOT DISTINCT (tenant_id, user_id)`
    )
  }

  async down() {
    this.schema.dropTable('chat_quotas')
    this.schema.dropTable('chat_generations')
    this.schema.dropTable('chat_messages')
  }
}
