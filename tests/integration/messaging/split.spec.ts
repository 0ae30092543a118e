import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import amqp from 'amqplib'
import { childEnv, finished, startNode, waitForLine } from '#tests/helpers/processes'
import { SPLIT_EFFECTS } from '#tests/fixtures/split'
import { moduleQueue } from '#app/messaging/transports/rabbitmq'
import { until } from '#tests/helpers/waiting'
import { resetBus } from '#tests/helpers/messaging'

const PORT = 3393
const EVENTS = 25

const TRANSPORTS: Array<{ name: string; skip?: string }> = [
  { name: 'rabbitmq', skip: env.get('AMQP_URL') ? undefined : 'AMQP_URL is not set' },
  { name: 'bullmq', skip: env.get('REDIS_URL') ? undefined : 'REDIS_URL is not set' },
  { name: 'local' },
]

test.group('split deployment: two processes, different modules', (group) => {
  group.each.setup(async () => {
    await resetBus()
    await db.rawQuery(
      `CREATE TABLE IF NOT EXISTS ${SPLIT_EFFECTS} (event_id uuid PRIMARY KEY, index int NOT NULL, handled_by text NOT NULL, pid int NOT NULL)`
    )
    await db.rawQuery(`TRUNCATE ${SPLIT_EFFECTS}`)
  })

  for (const transport of TRANSPORTS) {
    test(`${transport.name}: published by A (system), handled by B (identity) only`, async ({
      assert,
      cleanup,
    }) => {
      if (transport.name === 'rabbitmq') {
        // A durable queue outlives runs; an earlier failed run must not feed this one.
        const connection = await amqp.connect(env.get('AMQP_URL')!)
        const channel = await connection.createChannel()
        await channel.assertQueue(moduleQueue('identity'), {
          durable: true,
          arguments: {
            'x-dead-letter-exchange': 'atrium.dead',
            'x-dead-letter-routing-key': moduleQueue('identity'),
          },
        })
        await channel.purgeQueue(moduleQueue('identity'))
        await connection.close()
      }
      const common = { BUS_TRANSPORT: transport.name, LOG_LEVEL: 'warn' }
      const processA = startNode(
        ['tests/fixtures/server.ts'],
        childEnv({ ...common, ATRIUM_MODULES: 'system', PORT: String(PORT), HOST: '127.0.0.1' })
      )
      const processB = startNode(
        ['tests/fixtures/worker.ts'],
        childEnv({ ...common, ATRIUM_MODULES: 'identity' })
      )
      cleanup(() => {
        processA.kill('SIGKILL')
        processB.kill('SIGKILL')
      })
      const doneA = finished(processA, 90_000)
      const doneB = finished(processB, 90_000)
      await Promise.all([
        waitForLine(processA, /Atrium is up/),
        waitForLine(processB, /fixture worker ready/),
      ])

      const response = await fetch(`http://127.0.0.1:${PORT}/api/v1/__fixtures/split/ping`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ count: EVENTS }),
      })
      assert.equal(response.status, 202)

      const handled = await until(async () => {
        const [{ count }] = await db.from(SPLIT_EFFECTS).count('* as count')
        return Number(count) >= EVENTS
      }, 30_000)
      // Stopped before counting: nothing can add an effect after both have exited.
      processA.kill('SIGINT')
      processB.kill('SIGINT')
      const [stoppedA, stoppedB] = await Promise.all([doneA, doneB])
      assert.isTrue(handled, `not handled:\nA: ${stoppedA.stderr}\nB: ${stoppedB.stderr}`)

      const { rows } = await db.rawQuery(
        `SELECT handled_by, pid, count(*)::int AS effects, count(DISTINCT index)::int AS indexes
           FROM ${SPLIT_EFFECTS} GROUP BY handled_by, pid`
      )
      assert.deepEqual(rows, [
        { handled_by: 'identity', pid: processB.pid, effects: EVENTS, indexes: EVENTS },
      ])
      assert.equal(stoppedA.code, 0, stoppedA.stderr)
      assert.equal(stoppedB.code, 0, stoppedB.stderr)
    })
      .skip(Boolean(transport.skip), transport.skip)
      .timeout(120_000)
  }
})
