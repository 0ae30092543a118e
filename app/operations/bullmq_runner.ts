import { Queue, Worker } from 'bullmq'
import logger from '@adonisjs/core/services/logger'
import {
  claimForQueue,
  runQueuedOperation,
  type OperationsRunner,
} from '#app/operations/operations'
import { closeBullMq } from '#app/messaging/transports/bullmq'

export const OPERATIONS_QUEUE = 'operations'

export interface BullMqOperationsOptions {
  redisUrl: string
  prefix: string
  /** Operations one process runs at once. */
  concurrency?: number
  /** A job's lock; a killed worker's operation runs again after it. */
  lockMs?: number
}

/**
 * Operations on BullMQ (when Redis is configured): platform_operations stays
 * the record the API reads (status, progress, result, RLS), BullMQ does the
 * scheduling across worker processes. The worker loop calls runDue() each
 * pass; without Redis, processOperations() runs them from PostgreSQL instead.
 */
export class BullMqOperations implements OperationsRunner {
  readonly name = 'bullmq' as const
  #queue: Queue<{ id: string }>
  #worker?: Worker<{ id: string }>

  constructor(private options: BullMqOperationsOptions) {
    this.#queue = new Queue(OPERATIONS_QUEUE, {
      prefix: options.prefix,
      connection: { url: options.redisUrl, enableOfflineQueue: false, maxRetriesPerRequest: 1 },
    })
    this.#queue.on('error', (error) => logger.warn({ err: error }, 'operations queue error'))
  }

  async start() {
    this.#worker = new Worker<{ id: string }>(
      OPERATIONS_QUEUE,
      (job) => runQueuedOperation(job.data.id),
      {
        prefix: this.options.prefix,
        connection: { url: this.options.redisUrl, maxRetriesPerRequest: null },
        concurrency: this.options.concurrency ?? 2,
        lockDuration: this.options.lockMs ?? 30_000,
        stalledInterval: this.options.lockMs ?? 30_000,
        maxStalledCount: 3,
      }
    )
    this.#worker.on('error', (error) => logger.warn({ err: error }, 'operations worker error'))
  }

  /** Queues the due operations; returns how many. */
  async runDue() {
    const due = await claimForQueue()
    if (due.length === 0) return 0
    await this.#queue.addBulk(
      due.map(({ id, priority }) => ({
        name: 'run',
        data: { id },
        opts: {
          jobId: id,
          // Lower runs first; BullMQ accepts up to 2^21 − 1.
          priority: Math.min(priority, 2 ** 21 - 1),
          removeOnComplete: { age: 3600 },
          removeOnFail: { age: 7 * 24 * 3600 },
        },
      }))
    )
    return due.length
  }

  get queue() {
    return this.#queue
  }

  async close() {
    await closeBullMq(this.#worker ? [this.#worker] : [], [this.#queue])
  }
}
