import pg from 'pg'
import logger from '@adonisjs/core/services/logger'
import { OUTBOX_CHANNEL } from '#app/messaging/outbox'
import { DELIVERIES_CHANNEL, relayBatch, type Transport } from '#app/messaging/relay'
import { createOperationsRunner, createTransport } from '#app/messaging/transports/index'
import { processDeliveries, type DeliveryOptions } from '#app/messaging/deliveries'
import { runMaintenance } from '#app/platform/maintenance'
import { runBackgroundTasks } from '#app/platform/background'
import { OPERATIONS_CHANNEL, type OperationsRunner } from '#app/operations/operations'

const MAINTENANCE_EVERY_MS = 10 * 60 * 1000

export interface WorkerOptions extends DeliveryOptions {
  connectionString: string
  /** Default: the one BUS_TRANSPORT names. */
  transport?: Transport
  /** Default: BullMQ with Redis, PostgreSQL without. */
  operations?: OperationsRunner
  /** Fallback when a notification is missed (or LISTEN is unavailable): look anyway this often. */
  pollIntervalMs?: number
}

/**
 * The background loop of `atrium:work` (and of the server with
 * ATRIUM_ROLE=all): relay due outbox rows, then process due deliveries, until
 * both are empty; sleep until NOTIFY or the poll interval, repeat. stop()
 * lets the current pass finish.
 */
export class MessagingWorker {
  #listener?: pg.Client
  #running = false
  #wake?: () => void
  /** A notification arrived while no sleep was waiting for it: the next sleep must not wait. */
  #nudged = false
  #loop?: Promise<void>
  #lastMaintenance = 0
  #transport?: Transport
  #operations?: OperationsRunner
  #consuming = false

  constructor(private options: WorkerOptions) {}

  /**
   * Never throws on a missing service: without LISTEN the worker polls, and a
   * broker that refuses its consumers is tried again on later passes.
   */
  async start() {
    this.#running = true
    this.#transport =
      this.options.transport ?? (await createTransport({ leaseSeconds: this.options.leaseSeconds }))
    this.#operations =
      this.options.operations ??
      (await createOperationsRunner({ leaseSeconds: this.options.leaseSeconds }))
    await this.#operations.start?.()
    await this.#listen()
    await this.#startConsumers()
    this.#loop = this.#run()
  }

  get transport() {
    return this.#transport
  }

  /** Waiting for a notification or the poll interval, with nothing left to do. */
  get idle() {
    return this.#wake !== undefined
  }

  /** Finishes the current pass and the broker consumers' in-flight handlers, then closes the connections. */
  async stop() {
    this.#running = false
    this.#nudge()
    await this.#loop
    await this.#transport?.close?.()
    await this.#operations?.close?.()
    await this.#listener?.end().catch(() => {})
  }

  async #startConsumers() {
    if (this.#consuming || !this.#transport?.startConsumers) return
    try {
      await this.#transport.startConsumers()
      this.#consuming = true
    } catch (error) {
      logger.warn({ err: error }, `${this.#transport.name} consumers did not start; retrying`)
    }
  }

  async #listen() {
    if (this.#listener) return
    const listener = new pg.Client({ connectionString: this.options.connectionString })
    const drop = (error?: Error) => {
      if (this.#listener !== listener) return
      this.#listener = undefined
      if (this.#running)
        logger.warn({ err: error }, 'messaging listener lost; polling until it is back')
      listener.end().catch(() => {})
    }
    listener.on('notification', () => this.#nudge())
    listener.on('error', drop)
    listener.on('end', () => drop())
    this.#listener = listener
    try {
      await listener.connect()
      for (const channel of [OUTBOX_CHANNEL, DELIVERIES_CHANNEL, OPERATIONS_CHANNEL]) {
        await listener.query(`LISTEN ${channel}`)
      }
    } catch (error) {
      drop(error as Error)
    }
  }

  async #run() {
    while (this.#running) {
      if (!this.#listener) await this.#listen()
      await this.#startConsumers()
      try {
        let busy = true
        while (busy && this.#running) {
          // Anything notified from here on is looked at by this pass or, if it comes too late for it, the next.
          this.#nudged = false
          const relayed = await relayBatch(this.#transport!)
          const outcomes = await processDeliveries(this.options)
          const operations = await this.#operations!.runDue()
          const background = await runBackgroundTasks()
          busy = relayed > 0 || operations > 0 || outcomes.length > 0 || background > 0
        }
        if (Date.now() - this.#lastMaintenance > MAINTENANCE_EVERY_MS) {
          this.#lastMaintenance = Date.now()
          const removed = await runMaintenance()
          if (removed) logger.debug({ removed }, 'maintenance pass')
        }
      } catch (error) {
        logger.error({ err: error }, 'messaging pass failed; retrying after the poll interval')
      }
      await this.#sleep(this.options.pollIntervalMs ?? 1000)
    }
  }

  #nudge() {
    this.#nudged = true
    this.#wake?.()
  }

  #sleep(ms: number) {
    return new Promise<void>((resolve) => {
      // A commit notified between the last pass and this sleep: go round again at once.
      if (this.#nudged) {
        this.#nudged = false
        return resolve()
      }
      const timer = setTimeout(done, ms)
      const wake = () => {
        this.#wake = undefined
        done()
      }
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.#wake = wake
    })
  }
}
