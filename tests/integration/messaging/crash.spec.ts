import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import { events } from '#app/messaging/outbox'
import { childEnv, finished, startNode, waitForLine } from '#tests/helpers/processes'
import { CRASH_EFFECTS } from '#tests/fixtures/messaging'
import { until } from '#tests/helpers/waiting'
import { purgeRabbitQueues } from '#tests/helpers/rabbitmq'
import { resetBus } from '#tests/helpers/messaging'

const EVENTS = 200

async function effectCount() {
  const [{ count }] = await db.from(CRASH_EFFECTS).count('* as count')
  return Number(count)
}

const TRANSPORTS: Array<{ name: string; skip?: string }> = [
  { name: 'local' },
  { name: 'bullmq', skip: env.get('REDIS_URL') ? undefined : 'REDIS_URL is not set' },
  { name: 'rabbitmq', skip: env.get('AMQP_URL') ? undefined : 'AMQP_URL is not set' },
]

test.group('messaging under a crash', (group) => {
  group.each.setup(async () => {
    await resetBus()
    await db.rawQuery(
      `CREATE TABLE IF NOT EXISTS ${CRASH_EFFECTS} (id uuid PRIMARY KEY, event_id uuid NOT NULL, index int NOT NULL)`
    )
    await db.rawQuery(`TRUNCATE ${CRASH_EFFECTS}`)
  })

  for (const transport of TRANSPORTS) {
    test(`${transport.name}: a worker SIGKILLed mid-batch, then restarted: every effect exactly once`, async ({
      assert,
      cleanup,
    }) => {
      await db.transaction(async (trx) => {
        for (let index = 0; index < EVENTS; index++) {
          await events.publish(trx, 'test.crash_probe', { index }, { version: 1, tenantId: null })
        }
      })

      if (transport.name === 'rabbitmq') await purgeRabbitQueues(['test'])
      const workerEnv = childEnv({ BUS_TRANSPORT: transport.name, BUS_RETRY_BASE_MS: '100' })
      const first = startNode(['tests/fixtures/worker.ts'], workerEnv)
      cleanup(() => {
        first.kill('SIGKILL')
      })
      const firstDone = finished(first, 60_000)
      await waitForLine(first, /fixture worker ready/)
      assert.isTrue(
        await until(async () => (await effectCount()) >= 30, 30_000),
        'the first worker made no progress'
      )
      first.kill('SIGKILL')
      const killed = await firstDone
      assert.equal(killed.signal, 'SIGKILL')
      const atCrash = await effectCount()
      assert.isBelow(atCrash, EVENTS, 'the crash came too late to test anything')

      const second = startNode(['tests/fixtures/worker.ts'], workerEnv)
      cleanup(() => {
        second.kill('SIGKILL')
      })
      const secondDone = finished(second, 90_000)
      await waitForLine(second, /fixture worker ready/)
      const drained = await until(async () => {
        const [{ open }] = await db
          .from('messaging_deliveries')
          .whereNot('state', 'done')
          .count('* as open')
        const [{ undispatched }] = await db
          .from('messaging_outbox')
          .whereNull('dispatched_at')
          .count('* as undispatched')
        return (await effectCount()) >= EVENTS && Number(open) === 0 && Number(undispatched) === 0
      }, 60_000)
      second.kill('SIGINT')
      const stopped = await secondDone
      assert.isTrue(drained, `not drained: ${await effectCount()} effects`)
      assert.equal(stopped.code, 0, stopped.stderr)

      const { rows } = await db.rawQuery(
        `SELECT count(*)::int AS effects, count(DISTINCT event_id)::int AS events,
              count(DISTINCT index)::int AS indexes FROM ${CRASH_EFFECTS}`
      )
      assert.deepEqual(rows[0], { effects: EVENTS, events: EVENTS, indexes: EVENTS })
    })
      .skip(Boolean(transport.skip), transport.skip)
      .timeout(180_000)
  }
})
