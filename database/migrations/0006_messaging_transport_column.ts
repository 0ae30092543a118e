import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * messaging_deliveries becomes the dead-letter list of every transport: BullMQ,
 * RabbitMQ and Kafka consumers record what they gave up on here, and the
 * column says which transport it came from.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('messaging_deliveries', (table) => {
      table.string('transport', 16).notNullable().defaultTo('local')
    })
  }

  async down() {
    this.schema.alterTable('messaging_deliveries', (table) => {
      table.dropColumn('transport')
    })
  }
}
