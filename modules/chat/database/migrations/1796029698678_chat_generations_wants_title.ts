import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * Whether a reply's end writes the conversation's title, decided when the
 * message is accepted (the conversation and the question's place are read
 * then anyway), so finishing a reply no longer reads both again.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('chat_generations', (table) => {
      table.boolean('wants_title').notNullable().defaultTo(false)
    })
  }

  async down() {
    this.schema.alterTable('chat_generations', (table) => {
      table.dropColumn('wants_title')
    })
  }
}
