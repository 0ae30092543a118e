import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'

export default class BusDeadLetters extends BaseCommand {
  static commandName = 'bus:dead-letters'
  static description = 'List deliveries that failed every attempt, with their last error'
  static options: CommandOptions = { startApp: true }

  @flags.string({ description: 'Only this subscriber' })
  declare subscriber?: string

  @flags.number({ description: 'How many (default 50)' })
  declare limit?: number

  @flags.boolean({ description: 'Print JSON' })
  declare json: boolean

  async run() {
    const { deadLetters } = await import('#app/messaging/admin')
    const letters = await deadLetters({ subscriber: this.subscriber, limit: this.limit })
    if (this.json) return this.logger.log(JSON.stringify(letters, null, 2))
    if (letters.length === 0) return this.logger.success('No dead letters')
    const table = this.ui.table()
    table.head(['Delivery', 'Event type', 'Subscriber', 'Attempts', 'Last error'])
    for (const letter of letters) {
      table.row([
        letter.deliveryId,
        letter.type,
        letter.subscriber,
        String(letter.attempts),
        (letter.lastError ?? '').slice(0, 80),
      ])
    }
    table.render()
    this.logger.log('Replay with: node ace bus:replay <delivery id>  (or --all)')
  }
}
