import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { tenancy } from '#app/tenancy/tenancy'
import { APP_ROLE, tenantIsolationSql } from '#app/tenancy/sql'
import { newId } from '#app/platform/ids'
import { advisoryLockTaken, statementsSentDuring } from '#tests/helpers/sql_spy'
import { oneTripRead } from '#app/tenancy/one_trip_read'

/*
| tenancy.read sends the role, the settings and one statement as one message
| sequence ending in a single Sync (one_trip_read.ts). These prove it keeps
| every promise of a unit of work: the role and settings apply, row-level
| security holds, nothing can be written, and a failure in front keeps the
| statement from running at all.
*/

test.group('tenancy.read: one round trip under row-level security', (group) => {
  const table = `test_one_trip_read_${process.pid}`
  const tenantA = newId()
  const tenantB = newId()

  group.setup(async () => {
    await db.rawQuery(
      `CREATE TABLE ${table} (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, note text)`
    )
    for (const statement of tenantIsolationSql(table)) await db.rawQuery(statement)
    await db.table(table).multiInsert([
      { id: newId(), tenant_id: tenantA, note: 'a1' },
      { id: newId(), tenant_id: tenantA, note: 'a2' },
      { id: newId(), tenant_id: tenantB, note: 'b1' },
    ])
    return async () => {
      await db.rawQuery(`DROP TABLE ${table}`)
    }
  })

  test('runs as the app role with both settings, as one message on the connection', async ({
    assert,
  }) => {
    const userId = newId()
    let rows: Record<string, unknown>[] = []
    const sent = await statementsSentDuring(async () => {
      rows = await tenancy.read(
        { tenantId: tenantA, userId },
        `SELECT current_user AS role, current_setting('app.tenant_id') AS tenant,
                current_setting('app.user_id') AS "user",
                current_setting('transaction_read_only') AS read_only, $1::int AS echoed`,
        [42]
      )
    })
    assert.deepEqual(rows, [
      { role: APP_ROLE, tenant: tenantA, user: userId, read_only: 'on', echoed: 42 },
    ])
    assert.lengthOf(sent, 1, sent.join('\n'))
  })

  test('row-level security holds: a tenant sees its rows, no tenant sees none', async ({
    assert,
  }) => {
    const mine = await tenancy.read<{ note: string }>(
      { tenantId: tenantA },
      `SELECT note FROM ${table} ORDER BY note`
    )
    assert.deepEqual(
      mine.map((row) => row.note),
      ['a1', 'a2']
    )
    const other = await tenancy.read<{ note: string }>(
      { tenantId: tenantB },
      `SELECT note FROM ${table} WHERE note = $1`,
      ['a1']
    )
    assert.deepEqual(other, [])
    assert.deepEqual(await tenancy.read({ userId: newId() }, `SELECT note FROM ${table}`), [])
  })

  test('it cannot write, and the connection is plain again afterwards', async ({ assert }) => {
    await assert.rejects(
      () =>
        tenancy.read(
          { tenantId: tenantA },
          `INSERT INTO ${table} (id, tenant_id, note) VALUES ($1, $2, 'sneaky') RETURNING id`,
          [newId(), tenantA]
        ),
      /read-only transaction/
    )
    const { rows } = await db.rawQuery(
      `SELECT count(*)::int AS n FROM ${table} WHERE note = 'sneaky'`
    )
    assert.equal(rows[0].n, 0)
    // The pool's next user sees neither the role nor the settings.
    const plain = await db.transaction(async (trx) => {
      const result = await trx.rawQuery(
        `SELECT current_user AS role, current_setting('app.tenant_id', true) AS tenant,
                current_setting('transaction_read_only') AS read_only`
      )
      return result.rows[0]
    })
    assert.notEqual(plain.role, APP_ROLE)
    assert.include([null, ''], plain.tenant)
    assert.equal(plain.read_only, 'off')
  })

  test('when the settings fail, the statement never runs (PostgreSQL skips to the Sync)', async ({
    assert,
  }) => {
    // A role that does not exist makes the settings statement fail. The statement behind
    // it takes a session advisory lock (allowed read-only, outlives the transaction): if it
    // ran, the lock would show in pg_locks.
    const lockKey = 424_242_000 + (process.pid % 1000)
    await assert.rejects(
      () =>
        oneTripRead(
          { tenantId: tenantA },
          'SELECT pg_advisory_lock($1)',
          [lockKey],
          'no_such_role'
        ),
      /no_such_role/
    )
    assert.isFalse(
      await advisoryLockTaken(lockKey),
      'the statement ran although its settings failed'
    )
    // And the same connection pool answers normally afterwards.
    assert.deepEqual(await tenancy.read({ tenantId: tenantA }, 'SELECT 1 AS one'), [{ one: 1 }])
  })

  test('bad statements reject with the database’s error; the pool stays usable', async ({
    assert,
  }) => {
    await assert.rejects(
      () => tenancy.read({ tenantId: tenantA }, `SELECT no_such_column FROM ${table}`),
      /no_such_column/
    )
    await assert.rejects(
      () => tenancy.read({ tenantId: tenantA }, `SELECT 1; SELECT 2`),
      /multiple commands/
    )
    const rows = await tenancy.read(
      { tenantId: tenantA },
      `SELECT count(*)::int AS n FROM ${table}`
    )
    assert.deepEqual(rows, [{ n: 2 }])
  })

  test('ids that are not uuids are refused before anything is sent', async ({ assert }) => {
    await assert.rejects(
      () => tenancy.read({ tenantId: `x'); DROP TABLE y; --` }, 'SELECT 1'),
      /uuid/
    )
    await assert.rejects(() => tenancy.read({ userId: 'nobody' }, 'SELECT 1'), /uuid/)
  })
})
