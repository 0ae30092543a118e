import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'

export default class BusStatus extends BaseCommand {
  static commandName = 'bus:status'
  static description =
    'Outbox backlog, oldest pending event, and deliveries per subscriber (pending, dead, done)'
  static options: CommandOptions = { startApp: true }

  @flags.boolean({ description: 'Print JSON' })
  declare json: boolean

  async run() {
    const { busStatus } = await import('#app/messaging/admin')
    const status = await busStatus()
    if (this.json) return this.logger.log(JSON.stringify(status, null, 2))
    const { outbox } = status
    this.logger.log(
      `Outbox: ${outbox.pending} pending (oldest ${outbox.oldestPendingSeconds ?? 0}s), ${outbox.delayed} delayed`
    )
    const table = this.ui.table()
    table.head(['Subscriber', 'Pending', 'Dead', 'Done'])
    for (const row of status.subscribers) {
      table.row([
        row.subscriber,
        String(row.pending),
        row.dead ? this.colors.red(String(row.dead)) : '0',
        String(row.done),
      ])
    }
    table.render()
  }
}
