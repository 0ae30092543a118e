import amqp from 'amqplib'
import type { ChannelModel, ConfirmChannel, ConsumeMessage, RecoveringChannelModel } from 'amqplib'
import logger from '@adonisjs/core/services/logger'
import type { QueueStatus, Transport } from '#app/messaging/relay'
import type { EventEnvelope } from '#app/messaging/types'
import {
  allSubscriptions,
  moduleOf,
  subscribersOf,
  subscription,
  type Subscription,
} from '#app/messaging/subscribers'
import {
  backoffMs,
  consumedHere,
  countRetry,
  recordDeadLetter,
  runSubscriberGrouped,
} from '#app/messaging/handling'

export const EVENTS_EXCHANGE = 'atrium.events'
export const DEAD_EXCHANGE = 'atrium.dead'
const SUBSCRIBER_HEADER = 'x-atrium-subscriber'
const ATTEMPT_HEADER = 'x-atrium-attempt'
const DEAD_LETTER_TTL_MS = 14 * 24 * 3600 * 1000

export interface RabbitMqTransportOptions {
  url: string
  /** First retry delay; retries wait in TTL queues of base × 4^k (k = 0…4). */
  retryBaseMs: number
  /** Unacknowledged messages one process holds per module queue. */
  prefetch?: number
}

export const moduleQueue = (module: string) => `atrium.${module}`

/**
 * rabbitmq: topic exchange atrium.events, routing key = event type, a durable
 * queue per subscribing module bound to the types its subscribers take.
 * Publishing waits for broker confirms; consumers ack by hand after handling.
 * A failed subscriber is retried through a TTL queue that dead-letters back
 * into the module queue (targeted at that subscriber only); after its
 * maxAttempts the message goes to atrium.dead (queue atrium.<module>.dead,
 * kept 14 days) and to messaging_deliveries for `bus:dead-letters`. Messages
 * that are not events at all are rejected straight to the dead-letter exchange.
 */
export class RabbitMqTransport implements Transport {
  readonly name = 'rabbitmq' as const
  #connection?: RecoveringChannelModel
  #publisher?: ConfirmChannel
  #consume = false
  #model?: ChannelModel
  #consumingOn = new WeakSet<ChannelModel>()
  #declaredRetryQueues = new Set<string>()
  #inFlight = new Set<Promise<void>>()
  #consumers: Array<{ channel: ConfirmChannel; tag: string }> = []

  constructor(private options: RabbitMqTransportOptions) {}

  /** Connects (and reconnects with backoff); topology and consumers are set up again on every connection. */
  async #connect() {
    if (this.#connection) return
    this.#connection = await amqp.connect(this.options.url, {
      recovery: {
        waitForConnect: false,
        maxDelay: 5000,
        setup: (model: ChannelModel) => this.#setup(model),
      },
    })
    this.#connection.on('disconnect', (error: Error) => {
      this.#publisher = undefined
      this.#model = undefined
      this.#declaredRetryQueues.clear()
      logger.warn({ err: error }, 'rabbitmq connection lost; reconnecting')
    })
    this.#connection.on('error', (error: Error) => logger.warn({ err: error }, 'rabbitmq error'))
  }

  async #setup(model: ChannelModel) {
    const channel = await model.createConfirmChannel()
    await this.#declareTopology(channel)
    this.#model = model
    this.#publisher = channel
    if (this.#consume) await this.#startConsuming(model)
  }

  /** The relay declares every module's queue, so an event is never unroutable because its consumer has not started yet. */
  async #declareTopology(channel: ConfirmChannel) {
    await channel.assertExchange(EVENTS_EXCHANGE, 'topic', { durable: true })
    await channel.assertExchange(DEAD_EXCHANGE, 'direct', { durable: true })
    for (const [module, types] of typesByModule(allSubscriptions())) {
      const queue = moduleQueue(module)
      await channel.assertQueue(queue, {
        durable: true,
        arguments: { 'x-dead-letter-exchange': DEAD_EXCHANGE, 'x-dead-letter-routing-key': queue },
      })
      for (const type of types) await channel.bindQueue(queue, EVENTS_EXCHANGE, type)
      await channel.assertQueue(`${queue}.dead`, {
        durable: true,
        arguments: { 'x-message-ttl': DEAD_LETTER_TTL_MS },
      })
      await channel.bindQueue(`${queue}.dead`, DEAD_EXCHANGE, queue)
    }
  }

  async dispatch(_trx: unknown, events: EventEnvelope[]) {
    const channel = await this.#readyPublisher()
    for (const event of events) {
      channel.publish(EVENTS_EXCHANGE, event.type, Buffer.from(JSON.stringify(event)), {
        persistent: true,
        messageId: event.id,
        contentType: 'application/json',
        type: event.type,
      })
    }
    await channel.waitForConfirms()
  }

  /** The confirm channel of the current connection; waits a little for a (re)connection, then gives up so the relay retries later. */
  async #readyPublisher(timeoutMs = 5000) {
    await this.#connect()
    const deadline = Date.now() + timeoutMs
    while (!this.#publisher && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    if (!this.#publisher)
      throw new Error('RabbitMQ is not reachable; the events stay in the outbox')
    return this.#publisher
  }

  async startConsumers() {
    this.#consume = true
    // setup() starts them on every later connection; this one may be up already.
    await this.#connect()
    if (this.#model) await this.#startConsuming(this.#model)
  }

  async #startConsuming(model: ChannelModel) {
    if (this.#consumingOn.has(model)) return
    this.#consumingOn.add(model)
    const modules = typesByModule(allSubscriptions().filter(consumedHere))
    for (const module of modules.keys()) await this.#consumeModule(model, module)
  }

  /** One channel per module, so a slow module does not hold another's prefetch. */
  async #consumeModule(model: ChannelModel, module: string) {
    const channel = await model.createConfirmChannel()
    // A channel-level error closes only the channel: consume again on the same connection.
    channel.on('error', (error: Error) =>
      logger.warn({ err: error, module }, 'rabbitmq channel error')
    )
    channel.on('close', () => {
      this.#consumers = this.#consumers.filter((consumer) => consumer.channel !== channel)
      if (!this.#consume || this.#model !== model) return
      setTimeout(() => {
        if (this.#consume && this.#model === model) {
          this.#consumeModule(model, module).catch((error) =>
            logger.warn(
              { err: error, module },
              'rabbitmq consumer not restarted; waiting for reconnection'
            )
          )
        }
      }, 1000)
    })
    await channel.prefetch(this.options.prefetch ?? 16)
    const { consumerTag } = await channel.consume(moduleQueue(module), (message) => {
      if (!message) return
      const work = this.#handle(channel, module, message).catch((error) =>
        logger.error({ err: error, module }, 'rabbitmq delivery failed; it will be redelivered')
      )
      this.#inFlight.add(work)
      work.finally(() => this.#inFlight.delete(work))
    })
    this.#consumers.push({ channel, tag: consumerTag })
  }

  async #handle(channel: ConfirmChannel, module: string, message: ConsumeMessage) {
    let event: EventEnvelope
    try {
      event = JSON.parse(message.content.toString())
      if (typeof event?.id !== 'string' || typeof event.type !== 'string')
        throw new Error('not an event')
    } catch {
      channel.nack(message, false, false) // to atrium.dead: no attempt can make it an event
      return
    }
    const headers = message.properties.headers ?? {}
    const target = headers[SUBSCRIBER_HEADER] as string | undefined
    const attempt = Number(headers[ATTEMPT_HEADER] ?? 1)
    const subscribers = target
      ? [subscription(target)].filter((entry): entry is Subscription => Boolean(entry))
      : subscribersOf(event.type, (entry) => moduleOf(entry.subscriber) === module)

    for (const entry of subscribers) {
      try {
        await runSubscriberGrouped(event, entry, 'rabbitmq')
      } catch (error) {
        if (attempt >= entry.maxAttempts) {
          await recordDeadLetter(event, entry.subscriber, {
            attempts: attempt,
            error,
            transport: 'rabbitmq',
          })
          this.#publishCopy(channel, DEAD_EXCHANGE, moduleQueue(module), message, entry, attempt)
        } else {
          countRetry(entry.subscriber, 'rabbitmq')
          const queue = await this.#retryQueue(channel, module, attempt)
          this.#publishCopy(channel, '', queue, message, entry, attempt + 1)
        }
      }
    }
    // The copies are confirmed before the original is acked: a crash in
    // between redelivers it, and the inbox makes the rerun a no-op.
    await channel.waitForConfirms()
    channel.ack(message)
  }

  #publishCopy(
    channel: ConfirmChannel,
    exchange: string,
    routingKey: string,
    message: ConsumeMessage,
    entry: Subscription,
    attempt: number
  ) {
    channel.publish(exchange, routingKey, message.content, {
      ...message.properties,
      persistent: true,
      headers: {
        ...message.properties.headers,
        [SUBSCRIBER_HEADER]: entry.subscriber,
        [ATTEMPT_HEADER]: attempt,
      },
    })
  }

  /** A TTL queue per delay tier that dead-letters back into the module queue (no head-of-line blocking across tiers). */
  async #retryQueue(channel: ConfirmChannel, module: string, attempt: number) {
    const wanted = backoffMs(attempt, { baseMs: this.options.retryBaseMs })
    const tiers = this.#retryTiers()
    const delay = tiers.find((tier) => tier >= wanted) ?? tiers[tiers.length - 1]
    const name = `${moduleQueue(module)}.retry.${delay}`
    if (!this.#declaredRetryQueues.has(name)) {
      await channel.assertQueue(name, {
        durable: true,
        arguments: {
          'x-message-ttl': delay,
          'x-dead-letter-exchange': '',
          'x-dead-letter-routing-key': moduleQueue(module),
        },
      })
      this.#declaredRetryQueues.add(name)
    }
    return name
  }

  async queueStatus(): Promise<QueueStatus[]> {
    const channel = await this.#readyPublisher()
    const status: QueueStatus[] = []
    for (const module of [...typesByModule(allSubscriptions()).keys()].sort()) {
      const queue = moduleQueue(module)
      const main = await channel.checkQueue(queue)
      const dead = await channel.checkQueue(`${queue}.dead`)
      let delayed = 0
      for (const tier of this.#retryTiers()) {
        delayed += await this.#countIfExists(`${queue}.retry.${tier}`)
      }
      status.push({ queue, waiting: main.messageCount, delayed, dead: dead.messageCount })
    }
    return status
  }

  /** Retry queues exist once something was retried; a check on a missing one closes its channel, so it gets its own. */
  async #countIfExists(queue: string) {
    const channel = await this.#model?.createChannel()
    if (!channel) return 0
    channel.on('error', () => {})
    try {
      const { messageCount } = await channel.checkQueue(queue)
      await channel.close()
      return messageCount
    } catch {
      return 0
    }
  }

  #retryTiers() {
    return [0, 1, 2, 3, 4].map((k) => this.options.retryBaseMs * 4 ** k)
  }

  /** Stops taking messages, lets the handlers in flight finish and ack, then disconnects. */
  async close() {
    this.#consume = false
    await Promise.allSettled(this.#consumers.map(({ channel, tag }) => channel.cancel(tag)))
    this.#consumers = []
    await Promise.allSettled([...this.#inFlight])
    await this.#connection?.close().catch(() => {})
    this.#connection = undefined
    this.#publisher = undefined
    this.#model = undefined
  }
}

function typesByModule(subscriptions: Subscription[]) {
  const modules = new Map<string, Set<string>>()
  for (const entry of subscriptions) {
    const module = moduleOf(entry.subscriber)
    modules.set(module, (modules.get(module) ?? new Set()).add(entry.type))
  }
  return modules
}
