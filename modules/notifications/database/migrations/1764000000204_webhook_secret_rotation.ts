import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * A rotated webhook secret keeps the old one valid for a grace period: both
 * signatures go with every delivery until it ends, so receivers can switch
 * without a window where deliveries fail verification.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('notifications_webhooks', (table) => {
      table.text('previous_secret_encrypted')
      table.timestamp('previous_secret_expires_at', { useTz: true })
    })
  }

  async down() {
    this.schema.alterTable('notifications_webhooks', (table) => {
      table.dropColumn('previous_secret_encrypted')
      table.dropColumn('previous_secret_expires_at')
    })
  }
}
