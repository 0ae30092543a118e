import { Queue, Worker, UnrecoverableError, type Job } from 'bullmq'
import logger from '@adonisjs/core/services/logger'
import type { QueueStatus, Transport } from '#app/messaging/relay'
import type { EventEnvelope } from '#app/messaging/types'
import { allSubscriptions, moduleOf, subscribersOf, subscription } from '#app/messaging/subscribers'
import {
  consumedHere,
  countRetry,
  recordDeadLetter,
  runSubscriberGrouped,
} from '#app/messaging/handling'

export interface BullMqTransportOptions {
  redisUrl: string
  /** Redis key prefix of every queue (BULLMQ_PREFIX). */
  prefix: string
  /** First retry delay; BullMQ doubles it per attempt. */
  retryBaseMs: number
  /**
   * Jobs one process holds at once per module queue (default 64). Most of them
   * wait to share a unit of work with the others of their tenant's subscriber
   * (runSubscriberGrouped), so this sets how large those batches can grow, not
   * how many transactions run. bench:orders' BullMQ saga, alternating rounds
   * after a warm-up: 8.9 statements per order with 32, 7.3–7.4 with 64, and
   * 314 against 270–277 orders/s.
   */
  concurrency?: number
  /** How long a job stays locked to its worker; a killed worker's jobs run again after it (BullMQ's stalled check). */
  lockMs?: number
}

interface EventJob {
  event: EventEnvelope
  subscriber: string
}

const DAY_SECONDS = 24 * 3600

/** Queue names cannot contain ':' (BullMQ's key separator). */
export const moduleQueueName = (module: string) => `events.${module}`

/**
 * bullmq: one queue per subscribing module, one job per (event, subscriber)
 * with job id = event id + subscriber, so a redispatch after a relay crash
 * adds nothing while the first job is kept. BullMQ retries with exponential
 * backoff up to the subscription's maxAttempts; the failed set keeps the
 * raw dead letters (14 days) and messaging_deliveries lists them for
 * `bus:dead-letters` / `bus:replay`.
 */
export class BullMqTransport implements Transport {
  readonly name = 'bullmq' as const
  #queues = new Map<string, Queue<EventJob>>()
  #workers: Worker<EventJob>[] = []

  constructor(private options: BullMqTransportOptions) {}

  #queue(module: string) {
    let queue = this.#queues.get(module)
    if (!queue) {
      queue = new Queue<EventJob>(moduleQueueName(module), {
        prefix: this.options.prefix,
        // Fail fast while Redis is away: the relay rolls back and the outbox keeps the events.
        connection: {
          url: this.options.redisUrl,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
        },
      })
      queue.on('error', (error) => logger.warn({ err: error }, 'bullmq queue connection error'))
      this.#queues.set(module, queue)
    }
    return queue
  }

  async dispatch(_trx: unknown, events: EventEnvelope[]) {
    const jobsByModule = new Map<string, Parameters<Queue<EventJob>['addBulk']>[0]>()
    for (const event of events) {
      for (const entry of subscribersOf(event.type)) {
        const module = moduleOf(entry.subscriber)
        const jobs = jobsByModule.get(module) ?? []
        jobs.push({
          name: event.type,
          data: { event, subscriber: entry.subscriber },
          opts: {
            jobId: `${event.id}.${entry.subscriber}`,
            attempts: entry.maxAttempts,
            backoff: { type: 'exponential', delay: this.options.retryBaseMs },
            removeOnComplete: { age: 3600, count: 10_000 },
            removeOnFail: { age: 14 * DAY_SECONDS },
          },
        })
        jobsByModule.set(module, jobs)
      }
    }
    await Promise.all([...jobsByModule].map(([module, jobs]) => this.#queue(module).addBulk(jobs)))
  }

  async startConsumers() {
    const modules = new Set(
      allSubscriptions()
        .filter(consumedHere)
        .map((entry) => moduleOf(entry.subscriber))
    )
    for (const module of modules) {
      const worker = new Worker<EventJob>(moduleQueueName(module), (job) => this.#process(job), {
        prefix: this.options.prefix,
        connection: { url: this.options.redisUrl, maxRetriesPerRequest: null },
        concurrency: this.options.concurrency ?? 64,
        lockDuration: this.options.lockMs ?? 30_000,
        stalledInterval: this.options.lockMs ?? 30_000,
        // A job whose worker died is retried, not failed, a few times (the inbox keeps effects once).
        maxStalledCount: 3,
      })
      worker.on('error', (error) => logger.warn({ err: error, module }, 'bullmq worker error'))
      this.#workers.push(worker)
    }
  }

  async #process(job: Job<EventJob>) {
    const { event, subscriber } = job.data
    const registered = subscription(subscriber)
    if (!registered) {
      // Renamed or removed since it was queued: retrying cannot help.
      throw new UnrecoverableError(`No subscriber named ${subscriber} is registered`)
    }
    try {
      await runSubscriberGrouped(event, registered, 'bullmq')
    } catch (error) {
      const attempts = job.attemptsMade + 1
      if (attempts >= (job.opts.attempts ?? 1)) {
        await recordDeadLetter(event, subscriber, { attempts, error, transport: 'bullmq' })
      } else {
        countRetry(subscriber, 'bullmq')
      }
      throw error
    }
  }

  async queueStatus(): Promise<QueueStatus[]> {
    const modules = new Set(allSubscriptions().map((entry) => moduleOf(entry.subscriber)))
    const status: QueueStatus[] = []
    for (const module of [...modules].sort()) {
      const counts = await this.#queue(module).getJobCounts('waiting', 'delayed', 'failed')
      status.push({
        queue: moduleQueueName(module),
        waiting: counts.waiting,
        delayed: counts.delayed,
        dead: counts.failed,
      })
    }
    return status
  }

  async close() {
    await closeBullMq(this.#workers, [...this.#queues.values()])
    this.#workers = []
    this.#queues.clear()
  }
}

/** How long a graceful close may take before the connections are dropped. */
const CLOSE_GRACE_MS = 10_000

/**
 * Closes workers (letting their current jobs finish), then queues. While
 * Redis is unreachable a graceful close never ends — its QUIT waits in
 * ioredis' offline queue — so after CLOSE_GRACE_MS the connections are
 * dropped instead: a SIGTERM during a Redis outage still stops the process.
 */
export async function closeBullMq(workers: Worker[], queues: Queue[]) {
  const closing = (async () => {
    await Promise.all(workers.map((worker) => worker.close()))
    await Promise.all(queues.map((queue) => queue.close()))
  })()
  let timer: NodeJS.Timeout | undefined
  const gaveUp = new Promise<'gave up'>((resolve) => {
    timer = setTimeout(() => resolve('gave up'), CLOSE_GRACE_MS)
  })
  const outcome = await Promise.race([closing, gaveUp]).finally(() => clearTimeout(timer))
  if (outcome !== 'gave up') return
  logger.warn('BullMQ did not close in time (Redis unreachable?); dropping its connections')
  // Neither the abandoned close nor the disconnect is awaited: a client that is reconnecting
  // stops retrying at once but may never emit the 'end' BullMQ would wait for.
  closing.catch(() => {})
  for (const closable of [...workers, ...queues]) closable.disconnect().catch(() => {})
}
