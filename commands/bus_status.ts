import { BaseCommand, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'

export default class BusStatus extends BaseCommand {
  static commandName = 'bus:status'
  static description =
    'Outbox backlog, oldest pending event, deliveries per subscriber (pending, dead, done) and the broker queues'
  static options: CommandOptions = { startApp: true }

  @flags.boolean({ description: 'Print JSON' })
  declare json: boolean

  async run() {
    const { busStatus } = await import('#app/messaging/admin')
    const { createTransport } = await import('#app/messaging/transports/index')
    const status = await busStatus()
    const transport = await createTransport()
    let queues = null
    try {
      queues = (await transport.queueStatus?.()) ?? null
    } catch (error) {
      this.logger.warning(`${transport.name}: queues unavailable (${(error as Error).message})`)
    } finally {
      await transport.close?.()
    }
    if (this.json) {
      return this.logger.log(
        JSON.stringify({ ...status, transport: transport.name, queues }, null, 2)
      )
    }
    const { outbox } = status
    this.logger.log(`Transport: ${transport.name}`)
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
    if (queues) {
      const brokerTable = this.ui.table()
      brokerTable.head(['Queue', 'Waiting', 'Retrying', 'Dead'])
      for (const row of queues) {
        brokerTable.row([row.queue, String(row.waiting), String(row.delayed), String(row.dead)])
      }
      brokerTable.render()
    }
  }
}
