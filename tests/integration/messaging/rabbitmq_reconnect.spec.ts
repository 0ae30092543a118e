import { test } from '@japa/runner'
import { spawnSync } from 'node:child_process'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import { MessagingWorker } from '#app/messaging/worker'
import { RabbitMqTransport, moduleQueue } from '#app/messaging/transports/rabbitmq'
import { postgresOperations } from '#app/operations/operations'
import amqp from 'amqplib'
import '#tests/fixtures/messaging'
import { publishProbeRange, until } from '#tests/helpers/waiting'
import { freshModule, recordProbes, resetBus } from '#tests/helpers/messaging'

const EFFECTS = 'test_reconnect_effects'
const rabbitmqctl = (...args: string[]) =>
  spawnSync('rabbitmqctl', args, { encoding: 'utf8', timeout: 30_000 })
const skip = !env.get('AMQP_URL')
  ? 'AMQP_URL is not set'
  : rabbitmqctl('--version').status !== 0
    ? 'rabbitmqctl is not available to drop the connections'
    : undefined

const publish = publishProbeRange

test.group('rabbitmq transport when the broker drops its connections', () => {
  test('publisher and consumers reconnect by themselves; every effect once', async ({
    assert,
    cleanup,
  }) => {
    await resetBus()
    const module = freshModule()
    const effects = await recordProbes(EFFECTS, `${module}.record_probe`)
    const effectCount = () => effects.count()
    const worker = new MessagingWorker({
      connectionString: env.get('DATABASE_URL')!,
      transport: new RabbitMqTransport({ url: env.get('AMQP_URL')!, retryBaseMs: 50 }),
      operations: postgresOperations,
      pollIntervalMs: 100,
    })
    cleanup(async () => {
      await worker.stop()
      effects.stop()
      const connection = await amqp.connect(env.get('AMQP_URL')!)
      const channel = await connection.createChannel()
      await channel.deleteQueue(moduleQueue(module))
      await channel.deleteQueue(`${moduleQueue(module)}.dead`)
      await connection.close()
    })
    await worker.start()
    await publish(0, 10)
    assert.isTrue(await until(async () => (await effectCount()) === 10), 'before the drop')

    const dropped = rabbitmqctl('close_all_connections', 'atrium reconnect test')
    assert.equal(dropped.status, 0, dropped.stderr)
    await publish(10, 30)
    assert.isTrue(
      await until(async () => (await effectCount()) === 40),
      `after the drop: ${await effectCount()} effects`
    )
    // No sleep needed for late duplicates: the inbox and the event_id key make a second effect impossible.
    const { rows } = await db.rawQuery(
      `SELECT count(*)::int AS effects, count(DISTINCT index)::int AS indexes FROM ${EFFECTS}`
    )
    assert.deepEqual(rows[0], { effects: 40, indexes: 40 })
  })
    .skip(Boolean(skip), skip)
    .timeout(90_000)
})
