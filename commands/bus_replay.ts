import { BaseCommand, args, flags } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'

export default class BusReplay extends BaseCommand {
  static commandName = 'bus:replay'
  static description = 'Send dead letters again with a fresh attempt budget (one by id, or --all)'
  static options: CommandOptions = { startApp: true }

  @args.string({ description: 'Delivery id (from bus:dead-letters)', required: false })
  declare deliveryId?: string

  @flags.boolean({ description: 'Replay every dead letter' })
  declare all: boolean

  @flags.string({ description: 'With --all: only this subscriber' })
  declare subscriber?: string

  async run() {
    if (!this.deliveryId && !this.all) {
      this.logger.error('Give a delivery id, or --all')
      this.exitCode = 1
      return
    }
    const { replayDeadLetters } = await import('#app/messaging/admin')
    const replayed = await replayDeadLetters({
      deliveryId: this.deliveryId,
      all: this.all,
      subscriber: this.subscriber,
    })
    if (replayed === 0) {
      this.logger.warning('Nothing to replay')
      this.exitCode = this.deliveryId ? 1 : 0
      return
    }
    this.logger.success(`Replayed ${replayed} delivery(ies); a running worker picks them up now`)
  }
}
