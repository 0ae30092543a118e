import { BaseCommand } from '@adonisjs/core/ace'
import type { CommandOptions } from '@adonisjs/core/types/ace'

/**
 * Background work: relays the outbox and processes event deliveries for the
 * modules this process mounts (ATRIUM_MODULES). Runs until SIGINT/SIGTERM,
 * then finishes the current pass. `npm start` runs the same loop in the
 * server process unless ATRIUM_ROLE=web.
 */
export default class AtriumWork extends BaseCommand {
  static commandName = 'atrium:work'
  static description = 'Run background work: outbox relay and event deliveries'
  static options: CommandOptions = { startApp: true, staysAlive: true }

  async run() {
    const { default: env } = await import('#start/env')
    const { MessagingWorker } = await import('#app/messaging/worker')
    // Handlers first: a signal that arrives while the worker starts must still stop it gracefully.
    const stopRequested = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve)
      process.once('SIGTERM', resolve)
    })
    const worker = new MessagingWorker({ connectionString: env.get('DATABASE_URL')! })
    await worker.start()
    this.logger.info('atrium:work running (Ctrl-C to stop)')

    await stopRequested
    await worker.stop()
    this.logger.info('atrium:work stopped')
    await this.terminate()
  }
}
