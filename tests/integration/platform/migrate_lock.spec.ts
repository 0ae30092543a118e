import { test } from '@japa/runner'
import pg from 'pg'
import app from '@adonisjs/core/services/app'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import { runPendingMigrations } from '#app/platform/migrate'
import { until } from '#tests/helpers/waiting'

/*
| Every server migrates at start-up (MIGRATE_ON_START). Two started
| together — API processes scaled apart, replicas, or one beside a
| `node ace migration:run` — must both come up: the second waits for the
| first's migrations instead of exiting.
*/

/** Sessions of this database waiting for an advisory lock right now. */
async function waitingOnAdvisoryLock() {
  const { rows } = await db.rawQuery(
    `SELECT count(*)::int AS waiting FROM pg_stat_activity
      WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`
  )
  return rows[0].waiting as number
}

async function otherSession() {
  const client = new pg.Client({ connectionString: env.get('DATABASE_URL') })
  await client.connect()
  return client
}

test.group('migrations at start-up, one process at a time', () => {
  test('a process that finds another migrating waits for it, then goes on', async ({
    assert,
    cleanup,
  }) => {
    const other = await otherSession()
    cleanup(() => other.end())
    // Another process (a `node ace migration:run`, a replica) is migrating.
    await other.query('SELECT pg_advisory_lock(1)')

    let settled = false
    const started = runPendingMigrations(app).finally(() => (settled = true))
    // Before: Lucid's runner gave up at once (E_UNABLE_ACQUIRE_LOCK) and the process exited 1.
    assert.isTrue(await until(async () => (await waitingOnAdvisoryLock()) > 0, 10_000))
    assert.isFalse(settled)

    await other.query('SELECT pg_advisory_unlock(1)')
    await started
    // And it let go: the next process gets the lock at once.
    const { rows } = await other.query<{ taken: boolean }>(
      'SELECT pg_try_advisory_lock(1) AS taken'
    )
    assert.isTrue(rows[0].taken)
    await other.query('SELECT pg_advisory_unlock(1)')
  })

  test('processes starting together all migrate without an error', async ({ assert }) => {
    const outcomes = await Promise.allSettled([1, 2, 3].map(() => runPendingMigrations(app)))
    assert.deepEqual(
      outcomes.map((outcome) => outcome.status),
      ['fulfilled', 'fulfilled', 'fulfilled']
    )
  })
})
