import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import amqp from 'amqplib'
import { Queue } from 'bullmq'
import { events } from '#app/messaging/outbox'
import { subscribe, subscribeBatch, unsubscribe } from '#app/messaging/subscribers'
import { MessagingWorker } from '#app/messaging/worker'
import { registerBackgroundTask, wakeTaskAfterCommit } from '#app/platform/background'
import { deadLetters, replayDeadLetters } from '#app/messaging/admin'
import type { Transport } from '#app/messaging/relay'
import type { EventEnvelope } from '#app/messaging/types'
import { BullMqTransport, moduleQueueName } from '#app/messaging/transports/bullmq'
import { RabbitMqTransport, moduleQueue, EVENTS_EXCHANGE } from '#app/messaging/transports/rabbitmq'
import { KafkaTransport, topicOf } from '#app/messaging/transports/kafka'
import { bullMqPrefix } from '#app/messaging/transports/index'
import { newId } from '#app/platform/ids'
import { FakeKafka } from '#tests/fakes/kafka'
import { childEnv, runNode } from '#tests/helpers/processes'
import '#tests/fixtures/messaging'
import { until } from '#tests/helpers/waiting'
import { statementsSentDuring } from '#tests/helpers/sql_spy'
import { outcomesOf, resetBus } from '#tests/helpers/messaging'
import { CONCURRENT_UNITS, deliveriesWaiting } from '#app/messaging/handling'

/*
| One contract, every broker transport: the same scenarios run against BullMQ
| (the machine's Redis), RabbitMQ (the machine's broker), Kafka through an
| in-memory fake, and a real Kafka when KAFKA_BROKERS is set.
*/

const EFFECTS = 'test_transport_effects'
const RETRY_BASE_MS = 50
const MAX_ATTEMPTS = 4

/** Attempts per event id, counted outside the handler's (rolled back) transaction. */
const attempts = new Map<string, number>()
let poisonHealed = false

async function effectCount() {
  const [{ count }] = await db.from(EFFECTS).count('* as count')
  return Number(count)
}

async function publishProbes(
  probes: Array<{ index: number; failTimes?: number; poison?: boolean }>,
  aggregateId?: (index: number) => string
) {
  return db.transaction(async (trx) => {
    const ids: string[] = []
    for (const payload of probes) {
      ids.push(
        await events.publish(trx, 'test.transport_probe', payload, {
          version: 1,
          tenantId: null,
          aggregateId: aggregateId?.(payload.index),
        })
      )
    }
    return ids
  })
}

interface Harness {
  /** Its consumer runs several deliveries at once (BullMQ's concurrency, RabbitMQ's prefetch). */
  concurrent?: boolean
  make(module: string): Promise<Transport>
  /** Removes what the run left on the broker. */
  cleanup(module: string): Promise<void>
}

const harnesses: Record<string, Harness & { skip?: string }> = {
  'bullmq': {
    skip: env.get('REDIS_URL') ? undefined : 'REDIS_URL is not set',
    concurrent: true,
    async make() {
      return new BullMqTransport({
        redisUrl: env.get('REDIS_URL')!,
        prefix: bullMqPrefix(),
        retryBaseMs: RETRY_BASE_MS,
      })
    },
    async cleanup(module) {
      const queue = new Queue(moduleQueueName(module), {
        prefix: bullMqPrefix(),
        connection: { url: env.get('REDIS_URL')! },
      })
      await queue.obliterate({ force: true })
      await queue.close()
    },
  },
  'rabbitmq': {
    skip: env.get('AMQP_URL') ? undefined : 'AMQP_URL is not set',
    concurrent: true,
    async make() {
      return new RabbitMqTransport({ url: env.get('AMQP_URL')!, retryBaseMs: RETRY_BASE_MS })
    },
    async cleanup(module) {
      const connection = await amqp.connect(env.get('AMQP_URL')!)
      const channel = await connection.createChannel()
      const queue = moduleQueue(module)
      const tiers = [0, 1, 2, 3, 4].map((k) => `${queue}.retry.${RETRY_BASE_MS * 4 ** k}`)
      for (const name of [queue, `${queue}.dead`, ...tiers]) await channel.deleteQueue(name)
      await connection.close()
    },
  },
  'kafka (in-memory fake)': {
    async make() {
      return new KafkaTransport({ client: new FakeKafka().client(), retryBaseMs: RETRY_BASE_MS })
    },
    async cleanup() {},
  },
  'kafka (real broker)': {
    skip: env.get('KAFKA_BROKERS')
      ? undefined
      : 'KAFKA_BROKERS is not set: the Kafka contract runs against a real broker only when one is configured',
    async make() {
      return new KafkaTransport({
        brokers: env.get('KAFKA_BROKERS')!.split(','),
        retryBaseMs: RETRY_BASE_MS,
      })
    },
    async cleanup() {},
  },
}

for (const [name, harness] of Object.entries(harnesses)) {
  test.group(`${name} transport contract`, (group) => {
    let module = ''
    let subscriber = ''
    let transport: Transport
    let worker: MessagingWorker

    /** A worker on a fresh transport of this test's module; the group's teardown stops it. */
    async function startWorker(pollIntervalMs: number) {
      transport = await harness.make(module)
      worker = new MessagingWorker({
        connectionString: env.get('DATABASE_URL')!,
        transport,
        pollIntervalMs,
        baseBackoffMs: RETRY_BASE_MS,
      })
      await worker.start()
    }

    group.each.setup(async () => {
      if (harness.skip) return () => {}
      await resetBus()
      await db.rawQuery(
        `CREATE TABLE IF NOT EXISTS ${EFFECTS} (event_id uuid NOT NULL, subscriber text NOT NULL, index int NOT NULL)`
      )
      await db.rawQuery(`TRUNCATE ${EFFECTS}`)
      attempts.clear()
      poisonHealed = false
      // A module of its own per test: broker queues and groups never carry over between tests or runs.
      module = `t${newId().replaceAll('-', '').slice(-10)}`
      subscriber = `${module}.record_probe`
      subscribe(
        'test.transport_probe',
        subscriber,
        async (event, trx) => {
          const attempt = (attempts.get(event.id) ?? 0) + 1
          attempts.set(event.id, attempt)
          if (event.payload.poison && !poisonHealed) throw new Error('poison event')
          if (attempt <= (event.payload.failTimes ?? 0))
            throw new Error(`failing attempt ${attempt}`)
          await trx
            .table(EFFECTS)
            .insert({ event_id: event.id, subscriber, index: event.payload.index })
          // As a handler queueing mail does: the task that sends it is woken on commit.
          wakeTaskAfterCommit(trx, `${module}.send_what_handlers_queued`)
        },
        { maxAttempts: MAX_ATTEMPTS }
      )
      await startWorker(50)
      return async () => {
        await worker.stop()
        unsubscribe(subscriber)
        await harness.cleanup(module)
      }
    })

    test('every published event has its effect exactly once', async ({ assert }) => {
      const ids = await publishProbes(Array.from({ length: 60 }, (_, index) => ({ index })))
      assert.isTrue(
        await until(async () => {
          const { handled } = await outcomesOf(subscriber)
          return handled >= 60
        }),
        `effects: ${await effectCount()}`
      )
      const { rows } = await db.rawQuery(
        `SELECT count(*)::int AS effects, count(DISTINCT event_id)::int AS events FROM ${EFFECTS}`
      )
      assert.deepEqual(rows[0], { effects: 60, events: 60 })
      const [{ undispatched }] = await db
        .from('messaging_outbox')
        .whereIn('id', ids)
        .whereNull('dispatched_at')
        .count('* as undispatched')
      assert.equal(Number(undispatched), 0)
    }).skip(Boolean(harness.skip), harness.skip)

    test('work a handler queues for a background task wakes that task at once', async ({
      assert,
    }) => {
      // A worker asleep on a 30 s poll: only the handled event can wake its task in time.
      await worker.stop()
      let taskRuns = 0
      const unregister = registerBackgroundTask({
        name: `${module}.send_what_handlers_queued`,
        async run() {
          taskRuns++
          return 0
        },
      })
      try {
        await startWorker(30_000)
        assert.isTrue(await until(async () => worker.idle), 'the worker never went idle')
        const runsBefore = taskRuns
        await publishProbes([{ index: 1 }])
        assert.isTrue(await until(async () => (await effectCount()) === 1, 10_000))
        assert.isTrue(
          await until(async () => taskRuns > runsBefore, 10_000),
          'the task waited for its poll'
        )
      } finally {
        unregister()
      }
    }).skip(Boolean(harness.skip), harness.skip)

    test('deliveries the broker hands over at once share units of work', async ({ assert }) => {
      const sent = await statementsSentDuring(async () => {
        await publishProbes(Array.from({ length: 40 }, (_, index) => ({ index })))
        assert.isTrue(await until(async () => (await effectCount()) === 40))
      })
      const inboxInserts = sent.filter((statement) =>
        statement.includes('INSERT INTO messaging_inbox')
      ).length
      // One per unit of work: fewer than the deliveries when they ran together.
      assert.isBelow(inboxInserts, 40)
      const { rows } = await db.rawQuery(
        `SELECT count(*)::int AS effects, count(DISTINCT event_id)::int AS events FROM ${EFFECTS}`
      )
      assert.deepEqual(rows[0], { effects: 40, events: 40 })
    }).skip(
      Boolean(harness.skip) || !harness.concurrent,
      harness.skip ?? 'this consumer hands over one message at a time (a Kafka partition)'
    )

    test('a concurrentBatches subscriber shares units of work and runs several at once', async ({
      assert,
    }) => {
      const sideBySide = `${module}.side_by_side`
      let calls = 0
      let inFlight = 0
      let most = 0
      let release = () => {}
      const released = new Promise<void>((resolve) => (release = resolve))
      subscribeBatch(
        'test.transport_probe',
        sideBySide,
        async (batch, trx) => {
          most = Math.max(most, ++inFlight)
          calls++
          let timer: NodeJS.Timeout | undefined
          try {
            await Promise.race([
              released,
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error('ran one at a time')), 5000)
              }),
            ])
            await trx.table(EFFECTS).multiInsert(
              batch.map((event) => ({
                event_id: event.id,
                subscriber: sideBySide,
                index: event.payload.index,
              }))
            )
          } finally {
            clearTimeout(timer)
            inFlight--
          }
        },
        { concurrentBatches: true }
      )
      try {
        await publishProbes(Array.from({ length: 40 }, (_, index) => ({ index })))
        // As many units run as may (one at a time never would), and deliveries arriving
        // meanwhile wait for one of them; released, those go together.
        assert.isTrue(await until(async () => inFlight === CONCURRENT_UNITS), `${inFlight} at once`)
        assert.isTrue(
          await until(async () => (deliveriesWaiting().get(sideBySide) ?? 0) >= 2),
          'none waited'
        )
        release()
        const recorded = async () => {
          const [{ count }] = await db
            .from(EFFECTS)
            .where('subscriber', sideBySide)
            .count('* as count')
          return Number(count)
        }
        assert.isTrue(await until(async () => (await recorded()) === 40), `${await recorded()}`)
        assert.equal(most, CONCURRENT_UNITS)
        // Fewer calls than deliveries: the burst went together.
        assert.isBelow(calls, 40)
      } finally {
        unsubscribe(sideBySide)
      }
    }).skip(
      Boolean(harness.skip) || !harness.concurrent,
      harness.skip ?? 'this consumer hands over one message at a time (a Kafka partition)'
    )

    test('a handler that throws 3 times then succeeds has one effect', async ({ assert }) => {
      const [id] = await publishProbes([{ index: 1, failTimes: 3 }])
      assert.isTrue(await until(async () => (await effectCount()) === 1))
      // Success ends the job: it was handled once, after three retries.
      assert.deepInclude(await outcomesOf(subscriber), { handled: 1, retry: 3 })
      assert.equal(attempts.get(id), 4)
    }).skip(Boolean(harness.skip), harness.skip)

    test('a poison event is a dead letter after its attempts; the others flow; replay runs it once', async ({
      assert,
    }) => {
      const [poisonId] = await publishProbes([
        { index: 0, poison: true },
        ...Array.from({ length: 5 }, (_, index) => ({ index: index + 1 })),
      ])
      assert.isTrue(await until(async () => (await effectCount()) === 5))
      assert.isTrue(
        await until(async () => {
          const letters = await deadLetters({ subscriber })
          return letters.length === 1
        }),
        'the poison event never became a dead letter'
      )
      const [dead] = await deadLetters({ subscriber })
      assert.include(dead, { eventId: poisonId, subscriber, attempts: MAX_ATTEMPTS })
      assert.include(dead.lastError, 'poison event')
      const row = await db.from('messaging_deliveries').where('id', dead.deliveryId).first()
      assert.equal(row.transport, transport.name)
      assert.equal(attempts.get(poisonId), MAX_ATTEMPTS)

      // The bug is fixed; replay hands it to the PostgreSQL delivery loop, through the inbox.
      poisonHealed = true
      assert.equal(await replayDeadLetters({ deliveryId: dead.deliveryId }), 1)
      assert.isTrue(await until(async () => (await effectCount()) === 6))
      assert.deepEqual(await deadLetters({ subscriber }), [])
    }).skip(Boolean(harness.skip), harness.skip)

    test('the same event dispatched twice has one effect', async ({ assert }) => {
      const [id] = await publishProbes([{ index: 7 }])
      assert.isTrue(await until(async () => (await effectCount()) === 1))
      const row = await db.from('messaging_outbox').where('id', id).first()
      const envelope: EventEnvelope = {
        id,
        type: 'test.transport_probe',
        version: 1,
        tenantId: null,
        aggregateId: null,
        occurredAt: new Date(row.occurred_at).toISOString(),
        payload: { index: 7 },
      }
      // A relay that crashed after handing the batch over but before its commit does exactly this.
      const before = await outcomesOf(subscriber)
      if (transport.name === 'bullmq') {
        // BullMQ drops a job whose id it still holds: the copy never reaches a handler.
        const queue = new Queue(moduleQueueName(module), {
          prefix: bullMqPrefix(),
          connection: { url: env.get('REDIS_URL')! },
        })
        const jobId = `${id}.${subscriber}`
        const first = await queue.getJob(jobId)
        await db.transaction((trx) => transport.dispatch(trx, [envelope]))
        const after = await queue.getJob(jobId)
        const state = await after!.getState()
        await queue.close()
        assert.equal(state, 'completed')
        assert.equal(after!.processedOn, first!.processedOn, 'the job ran again')
      } else {
        await db.transaction((trx) => transport.dispatch(trx, [envelope]))
        // The copy reached the handler's inbox check and was dropped there.
        assert.isTrue(
          await until(async () => {
            const { duplicate } = await outcomesOf(subscriber)
            return duplicate > before.duplicate
          }),
          'the copy was never consumed'
        )
      }
      assert.equal(await effectCount(), 1)
    }).skip(Boolean(harness.skip), harness.skip)
  })
}

test.group('broker transports: what each broker holds', () => {
  test('bullmq: one job per (event, subscriber) with that id; the poison job stays in the failed set', async ({
    assert,
    cleanup,
  }) => {
    await resetBus()
    const module = `t${newId().replaceAll('-', '').slice(-10)}`
    const subscriber = `${module}.always_fails`
    subscribe(
      'test.transport_probe',
      subscriber,
      async () => {
        throw new Error('always fails')
      },
      { maxAttempts: 2 }
    )
    const transport = new BullMqTransport({
      redisUrl: env.get('REDIS_URL')!,
      prefix: bullMqPrefix(),
      retryBaseMs: RETRY_BASE_MS,
    })
    const queue = new Queue(moduleQueueName(module), {
      prefix: bullMqPrefix(),
      connection: { url: env.get('REDIS_URL')! },
    })
    cleanup(async () => {
      unsubscribe(subscriber)
      await transport.close()
      await queue.obliterate({ force: true })
      await queue.close()
    })
    const [eventId] = await publishProbes([{ index: 1 }])
    const envelope = {
      id: eventId,
      type: 'test.transport_probe',
      version: 1,
      tenantId: null,
      aggregateId: null,
      occurredAt: new Date().toISOString(),
      payload: { index: 1 },
    } as EventEnvelope
    await db.transaction((trx) => transport.dispatch(trx, [envelope]))
    await db.transaction((trx) => transport.dispatch(trx, [envelope]))
    const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'failed')
    assert.equal(counts.waiting + counts.delayed + counts.active + counts.failed, 1)
    assert.deepInclude(await transport.queueStatus(), {
      queue: moduleQueueName(module),
      waiting: 1,
      delayed: 0,
      dead: 0,
    })
    const job = await queue.getJob(`${eventId}.${subscriber}`)
    assert.exists(job, 'job id = event id + subscriber')
    assert.equal(job!.opts.attempts, 2)

    await transport.startConsumers()
    assert.isTrue(
      await until(async () => {
        const { failed } = await queue.getJobCounts('failed')
        return failed === 1
      })
    )
    const [failed] = await queue.getFailed()
    assert.equal(failed.id, `${eventId}.${subscriber}`)
    assert.equal(failed.attemptsMade, 2)
  }).skip(!env.get('REDIS_URL'), 'REDIS_URL is not set')

  test('rabbitmq: routing key = event type into the module queue; a non-event goes to the dead-letter queue', async ({
    assert,
    cleanup,
  }) => {
    const module = `t${newId().replaceAll('-', '').slice(-10)}`
    const subscriber = `${module}.record_probe`
    subscribe('test.transport_probe', subscriber, async () => {})
    const transport = new RabbitMqTransport({
      url: env.get('AMQP_URL')!,
      retryBaseMs: RETRY_BASE_MS,
    })
    const connection = await amqp.connect(env.get('AMQP_URL')!)
    const channel = await connection.createChannel()
    cleanup(async () => {
      unsubscribe(subscriber)
      await transport.close()
      await channel.deleteQueue(moduleQueue(module))
      await channel.deleteQueue(`${moduleQueue(module)}.dead`)
      await connection.close()
    })
    const envelope = {
      id: newId(),
      type: 'test.transport_probe',
      version: 1,
      tenantId: null,
      aggregateId: null,
      occurredAt: new Date().toISOString(),
      payload: { index: 1 },
    } as EventEnvelope
    // Publishing declares every module's queue first, so nothing is unroutable before consumers start.
    await db.transaction((trx) => transport.dispatch(trx, [envelope]))
    assert.deepInclude(await transport.queueStatus(), {
      queue: moduleQueue(module),
      waiting: 1,
      delayed: 0,
      dead: 0,
    })
    const message = await channel.get(moduleQueue(module), { noAck: true })
    assert.isObject(message)
    if (!message) return
    assert.equal(message.fields.routingKey, 'test.transport_probe')
    assert.equal(message.fields.exchange, EVENTS_EXCHANGE)
    assert.equal(message.properties.messageId, envelope.id)
    assert.isTrue(message.properties.deliveryMode === 2, 'persistent')
    assert.deepEqual(JSON.parse(message.content.toString()), envelope)

    channel.publish(EVENTS_EXCHANGE, 'test.transport_probe', Buffer.from('not json'))
    await transport.startConsumers()
    assert.isTrue(
      await until(async () => {
        const { messageCount } = await channel.checkQueue(`${moduleQueue(module)}.dead`)
        return messageCount === 1
      })
    )
  }).skip(!env.get('AMQP_URL'), 'AMQP_URL is not set')

  test('bus:status --json names the transport and lists its queues', async ({ assert }) => {
    const cli = await runNode(
      ['ace.js', 'bus:status', '--json'],
      childEnv({ BUS_TRANSPORT: 'rabbitmq' })
    )
    assert.equal(cli.code, 0, cli.stderr)
    const reported = JSON.parse(cli.stdout.slice(cli.stdout.indexOf('{')))
    assert.equal(reported.transport, 'rabbitmq')
    assert.isArray(reported.queues)
    assert.isObject(reported.outbox)
  }).skip(!env.get('AMQP_URL'), 'AMQP_URL is not set')

  test('kafka (fake): topic per publishing module, key = aggregate id, offsets committed after handling', async ({
    assert,
    cleanup,
  }) => {
    await resetBus()
    const module = `t${newId().replaceAll('-', '').slice(-10)}`
    const subscriber = `${module}.order_check`
    const seen: Array<{ aggregate: string | null; index: number }> = []
    subscribe('test.transport_probe', subscriber, async (event) => {
      seen.push({ aggregate: event.aggregateId, index: event.payload.index })
    })
    const kafka = new FakeKafka()
    const worker = new MessagingWorker({
      connectionString: env.get('DATABASE_URL')!,
      transport: new KafkaTransport({ client: kafka.client(), retryBaseMs: RETRY_BASE_MS }),
      pollIntervalMs: 50,
    })
    cleanup(async () => {
      await worker.stop()
      unsubscribe(subscriber)
    })
    await worker.start()
    await publishProbes(
      Array.from({ length: 30 }, (_, index) => ({ index })),
      (index) => `order-${index % 3}`
    )
    assert.isTrue(await until(async () => seen.length === 30))
    // Every subscribed type's topic exists; the probes all went to theirs.
    assert.include([...kafka.topics.keys()], topicOf('test.transport_probe'))
    assert.lengthOf(
      kafka.sent.filter((entry) => entry.topic === topicOf('test.transport_probe')),
      30
    )
    assert.isTrue(
      kafka.sent.every((entry) => entry.acks === -1),
      'acks from all replicas'
    )
    // One aggregate, one partition, published order kept.
    for (const aggregate of ['order-0', 'order-1', 'order-2']) {
      const indexes = seen
        .filter((entry) => entry.aggregate === aggregate)
        .map((entry) => entry.index)
      assert.deepEqual(
        indexes,
        [...indexes].sort((a, b) => a - b)
      )
      assert.lengthOf(indexes, 10)
    }
    // Offsets are committed after the handler's effect, so the last commit may trail the
    // last effect: wait for it rather than read it at once.
    const committed = () => {
      let total = 0n
      for (const [key, offset] of kafka.committed)
        if (key.startsWith(`atrium.${module}/`)) total += offset
      return total
    }
    assert.isTrue(await until(async () => committed() === 30n, 5_000), `committed ${committed()}`)
  })
})
