import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { jobQueue } from '#app/platform/job_queue'
import { newId } from '#app/platform/ids'

/*
 * The kernel's job table helper, on a table of its own: what deliveries,
 * operations, mail and webhooks rely on when several workers share a queue.
 */
const TABLE = 'test_job_queue'
const queue = jobQueue({
  table: TABLE,
  dueColumn: 'available_at',
  stateColumn: 'state',
  states: { claimable: ['pending'], pending: 'pending', dead: 'dead' },
  maxAttempts: 3,
  backoff: { baseMs: 60_000, maxMs: 600_000 },
})

async function enqueue(count: number, due = 'now()') {
  const ids = Array.from({ length: count }, () => newId())
  await db.table(TABLE).multiInsert(ids.map((id) => ({ id, available_at: db.raw(due) })))
  return ids
}

test.group('job queue', (group) => {
  group.setup(async () => {
    await db.rawQuery(`DROP TABLE IF EXISTS ${TABLE}`)
    await db.rawQuery(
      `CREATE TABLE ${TABLE} (id uuid PRIMARY KEY, state text NOT NULL DEFAULT 'pending',
         attempts int NOT NULL DEFAULT 0, available_at timestamptz NOT NULL, last_error text)`
    )
    return async () => {
      await db.rawQuery(`DROP TABLE IF EXISTS ${TABLE}`)
    }
  })
  group.each.setup(async () => {
    await db.rawQuery(`TRUNCATE ${TABLE}`)
  })

  test('concurrent workers claim disjoint jobs, and only due ones', async ({ assert }) => {
    const due = await enqueue(40)
    await enqueue(5, `now() + interval '1 hour'`)
    const claims = await Promise.all(
      Array.from({ length: 6 }, () =>
        queue.claim<{ id: string; attempts: number }>({ limit: 10, leaseSeconds: 30 })
      )
    )
    const claimed = claims.flat()
    assert.lengthOf(claimed, 40)
    assert.sameMembers(
      claimed.map((job) => job.id),
      due
    )
    assert.isTrue(claimed.every((job) => job.attempts === 1))
  })

  test('a claimed job is hidden for its lease, then claimable again with another attempt', async ({
    assert,
  }) => {
    const [id] = await enqueue(1)
    assert.lengthOf(await queue.claim({ limit: 5, leaseSeconds: 30 }), 1)
    assert.lengthOf(await queue.claim({ limit: 5, leaseSeconds: 30 }), 0, 'leased')
    // The worker died: its lease runs out.
    await db
      .from(TABLE)
      .where('id', id)
      .update({ available_at: db.raw(`now() - interval '1 second'`) })
    const [again] = await queue.claim<{ attempts: number }>({ limit: 5, leaseSeconds: 30 })
    assert.equal(again.attempts, 2)
  })

  test('a lease-only claim commits without waiting for its flush; other claims and later work wait', async ({
    assert,
  }) => {
    await enqueue(2)
    const setting = `current_setting('synchronous_commit') AS commit_mode`
    const [unflushed] = await queue.claim<{ commit_mode: string }>({
      limit: 1,
      leaseSeconds: 30,
      commitWithoutFlush: true,
      returning: setting,
    })
    assert.equal(unflushed.commit_mode, 'off')
    const [flushed] = await queue.claim<{ commit_mode: string }>({
      limit: 1,
      leaseSeconds: 30,
      returning: setting,
    })
    assert.equal(flushed.commit_mode, 'on')
    // Only that claim's own transaction: what the pooled connections run next flushes again.
    const after = await Promise.all(
      Array.from({ length: 4 }, () => db.rawQuery('SHOW synchronous_commit'))
    )
    assert.deepEqual(
      after.map((result) => result.rows[0].synchronous_commit),
      ['on', 'on', 'on', 'on']
    )
  })

  test('a prepared claim is parsed and planned once per connection, then only run', async ({
    assert,
  }) => {
    await enqueue(7)
    const runs = await db.transaction(async (trx) => {
      const preparedRuns = async () => {
        const { rows } = await trx.rawQuery(
          `SELECT custom_plans + generic_plans AS runs FROM pg_prepared_statements
            WHERE statement LIKE ? AND statement LIKE '%FOR UPDATE SKIP LOCKED%'`,
          [`%UPDATE ${TABLE} t%`]
        )
        return rows.map((row: { runs: string }) => Number(row.runs))
      }
      const claim = () =>
        queue.claim({ limit: 1, leaseSeconds: 30, prepared: true, returning: 't.id' }, trx)
      await claim()
      const [before] = await preparedRuns()
      for (let more = 1; more < 7; more++) await claim()
      return { before, after: await preparedRuns() }
    })
    // The connection keeps one prepared statement for the claim, and every claim ran it.
    assert.isAtLeast(runs.before, 1)
    assert.deepEqual(runs.after, [runs.before + 6])
    assert.lengthOf(await db.from(TABLE).where('attempts', 1), 7)
  })

  test('a prepared claim keeps the partial index of claimable rows in its generic plan', async ({
    assert,
    cleanup,
  }) => {
    // Thousands of settled jobs and a few due: the shape of a long-lived queue.
    await db.rawQuery(
      `INSERT INTO ${TABLE} (id, state, available_at)
       SELECT gen_random_uuid(), 'dead', now() - interval '1 day' FROM generate_series(1, 5000)`
    )
    await enqueue(3)
    await db.rawQuery(
      `CREATE INDEX ${TABLE}_due ON ${TABLE} (available_at) WHERE state = 'pending'`
    )
    cleanup(() => db.rawQuery(`DROP INDEX IF EXISTS ${TABLE}_due`))
    await db.rawQuery(`ANALYZE ${TABLE}`)
    const plan = await db.transaction(async (trx) => {
      // The plan PostgreSQL switches a prepared statement to after five runs, asked for at once.
      await trx.rawQuery('SET LOCAL plan_cache_mode = force_generic_plan')
      await queue.claim({ limit: 1, leaseSeconds: 30, prepared: true, returning: 't.id' }, trx)
      const { rows: prepared } = await trx.rawQuery(
        `SELECT name FROM pg_prepared_statements
          WHERE statement LIKE ? AND statement LIKE '%FOR UPDATE SKIP LOCKED%'`,
        [`%UPDATE ${TABLE} t%`]
      )
      // Its values: the limit and the lease (the states are in the text).
      const { rows } = await trx.rawQuery(`EXPLAIN (COSTS OFF) EXECUTE ${prepared[0].name}(1, 30)`)
      return rows.map((row: { 'QUERY PLAN': string }) => row['QUERY PLAN']).join('\n')
    })
    assert.include(plan, `${TABLE}_due`)
    assert.notInclude(plan, `Seq Scan on ${TABLE}`)
  })

  test('a prepared claim must name its columns: a migration could change what a star means', async ({
    assert,
  }) => {
    await enqueue(1)
    await assert.rejects(
      () => queue.claim({ limit: 1, leaseSeconds: 30, prepared: true }),
      /must name the columns/
    )
    const [job] = await db.from(TABLE)
    assert.equal(job.attempts, 0)
  })

  test('a claim that commits without a flush refuses to run inside a transaction', async ({
    assert,
  }) => {
    await enqueue(1)
    await assert.rejects(
      () =>
        db.transaction((trx) =>
          queue.claim({ limit: 1, leaseSeconds: 30, commitWithoutFlush: true }, trx)
        ),
      /must run on its own/
    )
    const [job] = await db.from(TABLE)
    assert.equal(job.attempts, 0)
  })

  test('a failure retries after the backoff until the attempts run out, then it is dead', async ({
    assert,
  }) => {
    const [id] = await enqueue(1)
    const [first] = await queue.claim<{ id: string; attempts: number }>({
      limit: 1,
      leaseSeconds: 30,
    })
    assert.equal(await queue.fail(first, { last_error: 'boom' }), 'retry')
    const retried = await db
      .from(TABLE)
      .where('id', id)
      .select('state', 'last_error', db.raw('extract(epoch from available_at - now()) AS wait'))
      .first()
    assert.equal(retried.state, 'pending')
    assert.equal(retried.last_error, 'boom')
    // First retry: the 60 s base, ±20%.
    assert.isAbove(Number(retried.wait), 47)
    assert.isBelow(Number(retried.wait), 73)

    assert.equal(await queue.fail({ id, attempts: 3 }, { last_error: 'again' }), 'dead')
    const dead = await db.from(TABLE).where('id', id).first()
    assert.equal(dead.state, 'dead')
    assert.lengthOf(await queue.claim({ limit: 1, leaseSeconds: 30 }), 0, 'a dead job stays dead')
  })

  test('a job may carry its own attempt limit (a subscription’s)', async ({ assert }) => {
    const [id] = await enqueue(1)
    assert.equal(await queue.fail({ id, attempts: 3 }, {}, { maxAttempts: 5 }), 'retry')
    assert.equal(await queue.fail({ id, attempts: 5 }, {}, { maxAttempts: 5 }), 'dead')
  })

  test('a claim that only hands jobs on counts no attempt', async ({ assert }) => {
    await enqueue(2)
    const handed = await queue.claim<{ attempts: number }>({
      limit: 5,
      leaseSeconds: 30,
      countsAttempt: false,
    })
    assert.deepEqual(
      handed.map((job) => job.attempts),
      [0, 0]
    )
  })
})
