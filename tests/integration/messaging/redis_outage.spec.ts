import { test } from '@japa/runner'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import { MessagingWorker } from '#app/messaging/worker'
import { BullMqTransport } from '#app/messaging/transports/bullmq'
import { portOpen } from '#tests/helpers/embedded'
import '#tests/fixtures/messaging'
import { publishProbeRange, until } from '#tests/helpers/waiting'
import { recordProbes, resetBus } from '#tests/helpers/messaging'
import { findLogLine } from '#tests/helpers/logs'

/*
| A Redis of the test's own (the machine's stays up for everything else),
| with an append-only file as a production Redis behind BullMQ would have:
| killed with SIGKILL for a few seconds, then started on the same data.
*/
const PORT = 6393
const EFFECTS = 'test_outage_effects'
const SUBSCRIBER = 'outage.record_probe'
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0

function startRedis(dir: string) {
  return spawn(
    'redis-server',
    [
      '--port',
      String(PORT),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
    ],
    { stdio: 'ignore' }
  )
}

const publish = publishProbeRange

test.group('bullmq transport while Redis is away', () => {
  test('publishing keeps working; the backlog drains once Redis is back; every effect once', async ({
    assert,
    cleanup,
  }) => {
    await resetBus()
    const effects = await recordProbes(EFFECTS, SUBSCRIBER)
    const effectCount = () => effects.count()
    const dir = mkdtempSync(join(tmpdir(), 'atrium-redis-'))
    let redis: ChildProcess = startRedis(dir)
    assert.isTrue(await until(() => portOpen(PORT), 10_000), 'redis-server did not start')
    const worker = new MessagingWorker({
      connectionString: env.get('DATABASE_URL')!,
      transport: new BullMqTransport({
        redisUrl: `redis://127.0.0.1:${PORT}`,
        prefix: 'atrium-outage',
        retryBaseMs: 50,
      }),
      pollIntervalMs: 100,
    })
    cleanup(async () => {
      await worker.stop()
      effects.stop()
      redis.kill('SIGKILL')
      rmSync(dir, { recursive: true, force: true })
    })
    await worker.start()

    await publish(0, 10)
    assert.isTrue(await until(async () => (await effectCount()) === 10), 'before the outage')

    redis.kill('SIGKILL')
    await until(async () => !(await portOpen(PORT)), 5000)
    // Publishing is an outbox insert: it does not notice Redis is gone.
    const started = Date.now()
    await publish(10, 40)
    assert.isBelow(Date.now() - started, 2000)
    // The relay has tried since, and failed: its pass logged the error.
    const failedPass = await findLogLine(
      (line) =>
        line.msg === 'messaging pass failed; retrying after the poll interval' &&
        Number(line.time) > started,
      10_000
    )
    assert.isNotNull(failedPass, 'the worker never tried to relay while Redis was away')
    const [{ waiting }] = await db
      .from('messaging_outbox')
      .whereNull('dispatched_at')
      .count('* as waiting')
    assert.equal(Number(waiting), 40, 'the relay cannot dispatch while Redis is away')
    assert.equal(await effectCount(), 10)

    redis = startRedis(dir)
    assert.isTrue(
      await until(async () => (await effectCount()) === 50, 30_000),
      `backlog did not drain: ${await effectCount()} effects`
    )
    // No sleep needed for late duplicates: the inbox and the event_id key make a second effect impossible.
    const { rows } = await db.rawQuery(
      `SELECT count(*)::int AS effects, count(DISTINCT index)::int AS indexes FROM ${EFFECTS}`
    )
    assert.deepEqual(rows[0], { effects: 50, indexes: 50 })
  })
    .skip(!hasRedisServer, 'redis-server is not installed on this machine')
    .timeout(90_000)
})
