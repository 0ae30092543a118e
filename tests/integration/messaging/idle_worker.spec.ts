import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import pg from 'pg'
import env from '#start/env'
import { tenancy } from '#app/tenancy/tenancy'
import { events } from '#app/messaging/outbox'
import { subscribe, unsubscribe } from '#app/messaging/subscribers'
import { MessagingWorker } from '#app/messaging/worker'
import {
  registerBackgroundTask,
  TASKS_CHANNEL,
  wakeTaskAfterCommit,
  wakeTaskHere,
} from '#app/platform/background'
import { newId } from '#app/platform/ids'
import { tenantIsolationSql } from '#app/tenancy/sql'
import { resetBus } from '#tests/helpers/messaging'
import { rowCount, until } from '#tests/helpers/waiting'
import { listenTo } from '#tests/helpers/listening'

declare module '#app/messaging/types' {
  interface IntegrationEvents {
    'test.idle_probe': { version: 1; payload: { name: string } }
  }
}

const EFFECTS = 'test_idle_worker_effects'
const tenant = newId()

/** The queues every loop of a default worker looks at, emptied so that nothing is due. */
async function emptyQueues() {
  await resetBus()
  await db.rawQuery(`TRUNCATE platform_operations, notifications_emails,
    notifications_webhook_deliveries, chat_generations CASCADE`)
  await db.rawQuery(`CREATE TABLE IF NOT EXISTS ${EFFECTS} (
    id uuid PRIMARY KEY, tenant_id uuid NOT NULL, event_id uuid NOT NULL, attempt int NOT NULL)`)
  for (const statement of tenantIsolationSql(EFFECTS)) await db.rawQuery(statement)
  await db.rawQuery(`TRUNCATE ${EFFECTS}`)
}

/**
 * A background task `system.idle_probe` that does what was queued for it and
 * says nothing is ever due by time: only a wake-up makes it run.
 */
function probeTask() {
  const state = { queued: 0, ran: 0 }
  const unregister = registerBackgroundTask({
    name: 'system.idle_probe',
    run: async () => {
      const todo = state.queued - state.ran
      state.ran = state.queued
      return todo
    },
    nextDueMs: async () => null,
  })
  return {
    unregister,
    queue: () => state.queued++,
    get ran() {
      return state.ran
    },
  }
}

/** A worker as the server starts it (no intervals given): a 1 s poll, a 60 s idle ceiling. */
async function defaultWorker(options: { baseBackoffMs?: number } = {}) {
  const worker = new MessagingWorker({ connectionString: env.get('DATABASE_URL')!, ...options })
  await worker.start()
  if (!(await until(async () => worker.idle))) {
    await worker.stop()
    throw new Error('the worker never went idle')
  }
  return worker
}

/** The probe task registered and a default worker idle, both undone by `cleanup`. */
async function idleWorkerWithProbe(cleanup: (callback: () => void | Promise<void>) => void) {
  const probe = probeTask()
  cleanup(probe.unregister)
  const worker = await defaultWorker()
  cleanup(() => worker.stop())
  return probe
}

/** Queues work for the probe, sends `notify` (a NOTIFY from elsewhere) and waits for the task to run. */
async function probeRunsAfter(probe: ReturnType<typeof probeTask>, notify: () => Promise<unknown>) {
  const before = probe.ran
  probe.queue()
  await notify()
  return until(async () => probe.ran > before, 10_000)
}

/**
 * A worker whose LISTEN is up sleeps until work is due instead of looking
 * every second: an idle server used to send ~7 claims a second, each a
 * transaction. Work made now still wakes it (NOTIFY); work that falls due by
 * time alone is looked at when it falls due; and a task queued by a process
 * that does not run it wakes the workers that do.
 */
test.group('an idle worker', (group) => {
  group.each.setup(async () => {
    await emptyQueues()
  })

  test('with nothing due each loop sleeps until its idle ceiling, not for a poll interval', async ({
    assert,
    cleanup,
  }) => {
    const worker = await defaultWorker()
    cleanup(() => worker.stop())

    // What each loop chose when it went to sleep: the old worker chose its 1 s poll every time.
    // The ceiling is 60 s less up to a random fifth; maintenance runs every 10 minutes.
    const sleeps = worker.sleeps
    assert.isAbove(sleeps.length, 3)
    for (const { loop, ms } of sleeps) {
      assert.isNotNull(ms, `${loop} is not asleep`)
      assert.isAtLeast(ms!, 48_000, `${loop} sleeps ${ms} ms`)
      assert.isAtMost(ms!, 10 * 60_000, `${loop} sleeps ${ms} ms`)
    }
  })

  test('a retry falls due by time alone and is handled then, long before the idle ceiling', async ({
    assert,
    cleanup,
  }) => {
    let attempts = 0
    subscribe(
      'test.idle_probe',
      'test.idle_flaky',
      async (event, trx) => {
        attempts++
        if (attempts === 1) throw new Error('the first attempt fails')
        await trx
          .table(EFFECTS)
          .insert({ id: newId(), tenant_id: event.tenantId, event_id: event.id, attempt: attempts })
      },
      { maxAttempts: 3 }
    )
    cleanup(() => unsubscribe('test.idle_flaky'))
    // The retry is due 1.5 s after the failure; nothing wakes the worker for it.
    const worker = await defaultWorker({ baseBackoffMs: 1500 })
    cleanup(() => worker.stop())

    const published = Date.now()
    await tenancy.run(tenant, (trx) =>
      events.publish(trx, 'test.idle_probe', { name: 'retry me' }, { version: 1, tenantId: tenant })
    )
    assert.isTrue(
      await until(async () => (await rowCount(EFFECTS)) > 0, 20_000),
      'the retry never ran'
    )
    const tookMs = Date.now() - published
    assert.equal(attempts, 2)
    // Backoff has ±20% jitter: the retry is due 1.2–1.8 s after the failure; the ceiling is 60 s.
    assert.isAtLeast(tookMs, 1000)
    assert.isBelow(tookMs, 15_000)
    const [delivery] = await db.from('messaging_deliveries').where('subscriber', 'test.idle_flaky')
    assert.equal(delivery.state, 'done')
    assert.equal(delivery.attempts, 2)
  })

  test('a delayed event falls due by time alone and is relayed and handled then', async ({
    assert,
    cleanup,
  }) => {
    subscribe('test.idle_probe', 'test.idle_later', async (event, trx) => {
      await trx
        .table(EFFECTS)
        .insert({ id: newId(), tenant_id: event.tenantId, event_id: event.id, attempt: 1 })
    })
    cleanup(() => unsubscribe('test.idle_later'))
    const worker = await defaultWorker()
    cleanup(() => worker.stop())

    // Published now, due in 1.5 s: its commit wakes the worker, which finds nothing due yet.
    const published = Date.now()
    await tenancy.run(tenant, (trx) =>
      events.publish(
        trx,
        'test.idle_probe',
        { name: 'later' },
        { version: 1, tenantId: tenant, availableAt: new Date(published + 1500) }
      )
    )
    assert.isTrue(
      await until(async () => (await rowCount(EFFECTS)) > 0, 20_000),
      'the delayed event never ran'
    )
    const tookMs = Date.now() - published
    assert.isAtLeast(tookMs, 1400)
    assert.isBelow(tookMs, 15_000, 'handled when due, long before the 60 s ceiling')
  })

  test('a task queued where it does not run wakes the workers that run it, by NOTIFY', async ({
    assert,
    cleanup,
  }) => {
    const probe = await idleWorkerWithProbe(cleanup)
    const other = new pg.Client({ connectionString: env.get('DATABASE_URL')! })
    await other.connect()
    cleanup(() => other.end())

    // As another process would: its unit of work queues the work, then only a NOTIFY reaches us.
    assert.isTrue(
      await probeRunsAfter(probe, () =>
        other.query('SELECT pg_notify($1, $2)', [TASKS_CHANNEL, 'system.idle_probe'])
      ),
      'the task was not woken'
    )
  })

  test('a lost LISTEN connection is replaced at once, not at the idle ceiling; then wakes work again', async ({
    assert,
    cleanup,
  }) => {
    const probe = await idleWorkerWithProbe(cleanup)
    const listenerPids = async () => {
      const { rows } = await db.rawQuery(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND query = ? AND pid <> pg_backend_pid()`,
        [`LISTEN ${TASKS_CHANNEL}`]
      )
      return (rows as Array<{ pid: number }>).map((row) => row.pid)
    }
    const [lost] = await listenerPids()
    assert.isDefined(lost, 'the worker listens')

    // A failover, an idle-session timeout, a restart of PostgreSQL: the session ends.
    await db.rawQuery('SELECT pg_terminate_backend(?)', [lost])
    assert.isTrue(
      await until(async () => {
        const pids = await listenerPids()
        return pids.some((pid) => pid !== lost)
      }, 10_000),
      'the worker did not listen again'
    )

    assert.isTrue(
      await probeRunsAfter(probe, () =>
        db.rawQuery('SELECT pg_notify(?, ?)', [TASKS_CHANNEL, 'system.idle_probe'])
      ),
      'the task was not woken'
    )
  })

  test('a process without the task says so on the channel after commit; a rollback says nothing', async ({
    assert,
    cleanup,
  }) => {
    const { payloads: heard, settle } = await listenTo(TASKS_CHANNEL, cleanup)

    // No loop runs `system.nobody_here` in this process (no worker is started in this test).
    await db
      .transaction(async (trx) => {
        await wakeTaskAfterCommit(trx, 'system.rolled_back')
        throw new Error('roll back')
      })
      .catch(() => {})
    await db.transaction(async (trx) => {
      await wakeTaskAfterCommit(trx, 'system.nobody_here')
      await wakeTaskAfterCommit(trx, 'system.nobody_here')
    })

    assert.isTrue(await until(async () => heard.length > 0, 5000), 'no NOTIFY heard')
    // Another statement's round trip: anything sent after that NOTIFY would have arrived by now.
    await settle()
    assert.deepEqual(heard, ['system.nobody_here'])
  })

  test('a loop woken while it passes goes round again without asking when work is next due', async ({
    assert,
    cleanup,
  }) => {
    // Under a steady stream of events each pass is woken while it runs; asking then when work
    // is next due was two statements a pass that could not change what it did next.
    const state = { passes: 0, asked: 0, wakeDuringPass: 0 }
    cleanup(
      registerBackgroundTask({
        name: 'system.woken_probe',
        run: async () => {
          state.passes++
          if (state.wakeDuringPass > 0) {
            state.wakeDuringPass--
            wakeTaskHere('system.woken_probe')
          }
          return 0
        },
        nextDueMs: async () => {
          state.asked++
          return null
        },
      })
    )
    const worker = await defaultWorker()
    cleanup(() => worker.stop())
    const before = { ...state }

    state.wakeDuringPass = 3
    wakeTaskHere('system.woken_probe')
    assert.isTrue(await until(async () => state.passes >= before.passes + 4 && worker.idle))
    // Four passes (the wake-up, then one for each wake during a pass), one question at the end.
    assert.equal(state.passes, before.passes + 4)
    assert.equal(state.asked, before.asked + 1)
  })
})
