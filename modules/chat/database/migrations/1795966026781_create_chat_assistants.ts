import { BaseSchema } from '@adonisjs/lucid/schema'
import { createTenantTable, grantAppAccess } from '#app/tenancy/migration'

/**
 * Assistants: a system prompt, a model and its parameters, starters, a
 * category and a visibility — private (its owner), tenant (its tenant's
 * members) or public (every tenant: a SELECT-only policy lets other tenants
 * read public rows, never change them).
 *
 * - chat_assistant_favourites: a user's favourites in a tenant (any assistant they can see).
 * - chat_featured: what a tenant's admins feature in their explore catalog.
 * - chat_assistant_users: who used an assistant, and when last (one row per
 *   user and assistant, any tenant): popularity is distinct users in 30
 *   days, not message counts, and one row per user keeps it cheap. Only
 *   counts ever leave it.
 * - conversations, messages and generations name the assistant they use.
 */
export default class extends BaseSchema {
  async up() {
    createTenantTable(
      this,
      'chat_assistants',
      (table) => {
        table.uuid('owner_id').notNullable()
        table.string('name', 100).notNullable()
        table.string('description', 500).notNullable().defaultTo('')
        table.text('system_prompt').notNullable().defaultTo('')
        table.string('model', 100)
        table.double('temperature')
        table.integer('max_tokens')
        table.jsonb('starters').notNullable().defaultTo('[]')
        table.string('category', 50).notNullable().defaultTo('general')
        table.string('visibility', 16).notNullable().defaultTo('private')
        table.uuid('forked_from')
        table.timestamp('published_at', { useTz: true })
        table.index(['visibility', 'category'])
        table.index(['tenant_id', 'owner_id', 'id'])
      },
      { extraVisibility: `visibility = 'public'` }
    )
    this.schema.raw(
      `ALTER TABLE chat_assistants ADD CONSTRAINT chat_assistants_visibility
         CHECK (visibility IN ('private', 'tenant', 'public'))`
    )

    createTenantTable(this, 'chat_assistant_favourites', (table) => {
      table.uuid('user_id').notNullable()
      table
        .uuid('assistant_id')
        .notNullable()
        .references('id')
        .inTable('chat_assistants')
        .onDelete('CASCADE')
      table.unique(['tenant_id', 'user_id', 'assistant_id'])
    })

    createTenantTable(this, 'chat_featured', (table) => {
      table
        .uuid('assistant_id')
        .notNullable()
        .references('id')
        .inTable('chat_assistants')
        .onDelete('CASCADE')
      table.unique(['tenant_id', 'assistant_id'])
    })

    this.schema.createTable('chat_assistant_users', (table) => {
      table
        .uuid('assistant_id')
        .notNullable()
        .references('id')
        .inTable('chat_assistants')
        .onDelete('CASCADE')
      table.uuid('user_id').notNullable()
      table.date('last_used_on').notNullable()
      table.primary(['assistant_id', 'user_id'])
      table.index(['assistant_id', 'last_used_on'])
    })
    grantAppAccess(this, 'chat_assistant_users')

    this.schema.alterTable('chat_messages', (table) => {
      table.uuid('assistant_id')
    })
    // The assistant a conversation continues with once a message chose one.
    this.schema.alterTable('chat_conversations', (table) => {
      table.uuid('assistant_id')
    })
    this.schema.alterTable('chat_generations', (table) => {
      table.uuid('assistant_id')
      table.jsonb('params')
    })
  }

  async down() {
    this.schema.alterTable('chat_generations', (table) => {
      table.dropColumn('assistant_id')
      table.dropColumn('params')
    })
    this.schema.alterTable('chat_messages', (table) => {
      table.dropColumn('assistant_id')
    })
    this.schema.alterTable('chat_conversations', (table) => {
      table.dropColumn('assistant_id')
    })
    this.schema.dropTable('chat_assistant_users')
    this.schema.dropTable('chat_featured')
    this.schema.dropTable('chat_assistant_favourites')
    this.schema.dropTable('chat_assistants')
  }
}
