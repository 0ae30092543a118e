import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs'
import logger from '@adonisjs/core/services/logger'
import type { Transport } from '#app/messaging/relay'
import type { EventEnvelope } from '#app/messaging/types'
import {
  allSubscriptions,
  moduleOf,
  subscribersOf,
  type Subscription,
} from '#app/messaging/subscribers'
import {
  backoffMs,
  consumedHere,
  countRetry,
  recordDeadLetter,
  runSubscriberGrouped,
} from '#app/messaging/handling'

/** What the transport uses of a kafkajs client; tests inject an in-memory broker with the same shape. */
export type KafkaClient = Pick<Kafka, 'producer' | 'consumer' | 'admin'>

export interface KafkaTransportOptions {
  brokers?: string[]
  /** Injected client (tests); otherwise one is built from `brokers`. */
  client?: KafkaClient
  retryBaseMs: number
  /** Upper bound of one in-place retry wait (a partition waits with it). */
  retryMaxMs?: number
}

/** A topic per publishing module: the event type's prefix. */
export const topicOf = (type: string) => `atrium.${type.slice(0, type.indexOf('.'))}`
export const groupOf = (module: string) => `atrium.${module}`

/**
 * kafka: a topic per publishing module, message key = aggregate id (so one
 * aggregate's events stay ordered in one partition), a consumer group per
 * subscribing module. Offsets are committed by hand after the message is
 * handled. A failing subscriber is retried in place with backoff (holding its
 * partition, which keeps per-aggregate order), then recorded as a dead letter
 * in messaging_deliveries and the partition moves on.
 */
export class KafkaTransport implements Transport {
  readonly name = 'kafka' as const
  #client: KafkaClient
  #producer?: Producer
  #consumers: Consumer[] = []
  #stopping = false

  constructor(private options: KafkaTransportOptions) {
    this.#client =
      options.client ??
      new Kafka({
        clientId: 'atrium',
        brokers: options.brokers ?? [],
        logLevel: logLevel.WARN,
        retry: { retries: 5 },
      })
  }

  async #ensureTopics(types: string[]) {
    const topics = [...new Set(types.map(topicOf))]
    if (topics.length === 0) return
    const admin = this.#client.admin()
    await admin.connect()
    try {
      // Idempotent: existing topics are left as they are.
      await admin.createTopics({ waitForLeaders: true, topics: topics.map((topic) => ({ topic })) })
    } finally {
      await admin.disconnect()
    }
  }

  async #connectProducer() {
    if (this.#producer) return this.#producer
    await this.#ensureTopics(allSubscriptions().map((entry) => entry.type))
    const producer = this.#client.producer({ idempotent: true, maxInFlightRequests: 1 })
    await producer.connect()
    this.#producer = producer
    return producer
  }

  async dispatch(_trx: unknown, events: EventEnvelope[]) {
    const producer = await this.#connectProducer()
    const byTopic = new Map<string, EventEnvelope[]>()
    for (const event of events) {
      const topic = topicOf(event.type)
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), event])
    }
    await producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, batch]) => ({
        topic,
        messages: batch.map((event) => ({
          key: event.aggregateId ?? event.id,
          value: JSON.stringify(event),
          headers: { 'atrium-event-type': event.type },
        })),
      })),
    })
  }

  async startConsumers() {
    const consumed = allSubscriptions().filter(consumedHere)
    const modules = new Map<string, Subscription[]>()
    for (const entry of consumed) {
      const module = moduleOf(entry.subscriber)
      modules.set(module, [...(modules.get(module) ?? []), entry])
    }
    await this.#ensureTopics(consumed.map((entry) => entry.type))
    try {
      for (const [module, entries] of modules) await this.#startConsumer(module, entries)
    } catch (error) {
      // All or nothing, so the worker's next try does not start a second consumer per group.
      await Promise.allSettled(this.#consumers.map((consumer) => consumer.disconnect()))
      this.#consumers = []
      throw error
    }
  }

  async #startConsumer(module: string, entries: Subscription[]) {
    const consumer = this.#client.consumer({ groupId: groupOf(module) })
    this.#consumers.push(consumer)
    await consumer.connect()
    await consumer.subscribe({
      topics: [...new Set(entries.map((entry) => topicOf(entry.type)))],
      fromBeginning: true,
    })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message, heartbeat }) => {
        await this.#handle(module, message.value, heartbeat)
        await consumer.commitOffsets([
          { topic, partition, offset: (BigInt(message.offset) + 1n).toString() },
        ])
      },
    })
  }

  async #handle(module: string, value: Buffer | null, heartbeat: () => Promise<void>) {
    let event: EventEnvelope
    try {
      event = JSON.parse(value?.toString() ?? '')
      if (typeof event?.id !== 'string' || typeof event.type !== 'string')
        throw new Error('not an event')
    } catch {
      logger.error({ module }, 'kafka message is not an event; skipped')
      return
    }
    const subscribers = subscribersOf(event.type, (entry) => moduleOf(entry.subscriber) === module)
    for (const entry of subscribers) {
      for (let attempt = 1; ; attempt++) {
        try {
          await runSubscriberGrouped(event, entry, 'kafka')
          break
        } catch (error) {
          // Stopping: leave the message uncommitted; the group's next consumer takes it again.
          if (this.#stopping) throw error
          if (attempt >= entry.maxAttempts) {
            await recordDeadLetter(event, entry.subscriber, {
              attempts: attempt,
              error,
              transport: 'kafka',
            })
            break
          }
          countRetry(entry.subscriber, 'kafka')
          await sleep(
            backoffMs(attempt, {
              baseMs: this.options.retryBaseMs,
              maxMs: this.options.retryMaxMs ?? 30_000,
            })
          )
          await heartbeat()
        }
      }
    }
  }

  async close() {
    this.#stopping = true
    await Promise.allSettled(this.#consumers.map((consumer) => consumer.disconnect()))
    await this.#producer?.disconnect().catch(() => {})
    this.#consumers = []
    this.#producer = undefined
  }
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
