import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { tenancy } from '#app/tenancy/tenancy'
import { APP_ROLE } from '#app/tenancy/sql'
import { createNotesOfTwoTenants, createNotesTable } from '#tests/helpers/database'
import { newId } from '#app/platform/ids'
import { advisoryLockTaken, statementsSentDuring } from '#tests/helpers/sql_spy'
import { oneTripRead, oneTripWrite, preparedName } from '#app/tenancy/one_trip_read'
import pg from 'pg'

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

  group.setup(() => createNotesOfTwoTenants(table, tenantA, tenantB))

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

  test('a prepared read is parsed once per connection, and row-level security holds on every run', async ({
    assert,
  }) => {
    // Lists itself in pg_prepared_statements only when it runs as a named, prepared statement.
    const text = `SELECT pg_backend_pid() AS pid,
                         (SELECT count(*)::int FROM pg_prepared_statements
                           WHERE statement LIKE '%prepared-read-probe%') AS prepared,
                         array_agg(note ORDER BY note) AS notes
                    FROM ${table}`
    const name = preparedName(text)
    const parses: string[] = []
    const parse = pg.Connection.prototype.parse
    pg.Connection.prototype.parse = function (this: pg.Connection, query, more) {
      if (query.name === name) parses.push(name)
      return parse.call(this, query, more)
    }
    const pids = new Set<number>()
    try {
      // Past five runs a connection switches to PostgreSQL's generic plan: both tenants use it.
      for (let run = 0; run < 40; run++) {
        const tenantId = run % 2 === 0 ? tenantA : tenantB
        const [row] = await tenancy.read<{ pid: number; prepared: number; notes: string[] }>(
          { tenantId },
          text,
          [],
          { prepared: true }
        )
        assert.deepEqual(row.notes, tenantId === tenantA ? ['a1', 'a2'] : ['b1'], `run ${run}`)
        assert.equal(row.prepared, 1)
        pids.add(row.pid)
      }
    } finally {
      pg.Connection.prototype.parse = parse
    }
    assert.lengthOf(parses, pids.size, 'one Parse per connection that ran it')
    assert.isBelow(parses.length, 40)
  })

  test('the settings in front are a prepared statement on every connection that reads', async ({
    assert,
  }) => {
    for (let run = 0; run < 30; run++) {
      const [row] = await tenancy.read<{ prepared: number; role: string }>(
        { tenantId: tenantA },
        `SELECT current_user AS role,
                (SELECT count(*)::int FROM pg_prepared_statements
                  WHERE statement LIKE '%set_config(''role''%'
                    AND statement LIKE '%transaction_read_only%') AS prepared`
      )
      assert.equal(row.role, APP_ROLE)
      assert.isAtLeast(row.prepared, 1, `run ${run}`)
    }
  })

  test('a prepared read that failed is sent whole again, on every connection', async ({
    assert,
  }) => {
    const text = `SELECT 10 / $1::int AS quotient`
    // Its Parse got through, its run did not: the statement exists on that connection.
    for (let run = 0; run < 15; run++) {
      await assert.rejects(
        () => tenancy.read({ tenantId: tenantA }, text, [0], { prepared: true }),
        /division by zero/
      )
    }
    for (let run = 0; run < 15; run++) {
      const rows = await tenancy.read({ tenantId: tenantA }, text, [5], { prepared: true })
      assert.deepEqual(rows, [{ quotient: 2 }])
    }
    // The settings in front failed, so the Parse behind them never ran — although pg took the
    // settings' ParseComplete for the statement's.
    const other = `SELECT 20 / $1::int AS quotient`
    await assert.rejects(
      () => oneTripRead({ tenantId: tenantA }, other, [5], 'no_such_role', { prepared: true }),
      /no_such_role/
    )
    for (let run = 0; run < 15; run++) {
      const rows = await tenancy.read({ tenantId: tenantA }, other, [5], { prepared: true })
      assert.deepEqual(rows, [{ quotient: 4 }])
    }
  })

  test('ids that are not uuids are refused before anything is sent', async ({ assert }) => {
    await assert.rejects(
      () => tenancy.read({ tenantId: `x'); DROP TABLE y; --` }, 'SELECT 1'),
      /uuid/
    )
    await assert.rejects(() => tenancy.read({ userId: 'nobody' }, 'SELECT 1'), /uuid/)
  })
})

/*
| tenancy.write sends the role, the settings and several statements as one
| sequence ending in a single Sync: one transaction, one round trip. These
| prove it is one: all of it commits or none of it, in order, under
| row-level security.
*/
test.group('tenancy.write: statements as one transaction in one round trip', (group) => {
  const table = `test_one_trip_write_${process.pid}`
  const tenantA = newId()
  const tenantB = newId()

  group.setup(() => createNotesTable(table))
  group.each.setup(async () => {
    await db.rawQuery(`TRUNCATE ${table}`)
  })

  const notes = async () => {
    const rows: Array<{ note: string; tenant_id: string }> = await db
      .from(table)
      .orderBy('note')
      .select('note', 'tenant_id')
    return rows.map((row) => `${row.note}@${row.tenant_id}`)
  }

  test('each statement’s result in order, as the app role, sent as one message', async ({
    assert,
  }) => {
    const userId = newId()
    const first = newId()
    let results: Array<{ rows: Record<string, unknown>[]; rowCount: number | null }> = []
    const sent = await statementsSentDuring(async () => {
      results = await tenancy.write({ tenantId: tenantA, userId }, [
        {
          text: `INSERT INTO ${table} (id, tenant_id, note) VALUES ($1, $2, 'one') RETURNING id`,
          values: [first, tenantA],
        },
        {
          // Sees what the statement before it wrote: one transaction.
          text: `INSERT INTO ${table} (id, tenant_id, note)
                 SELECT $1, $2, 'two' WHERE EXISTS (SELECT 1 FROM ${table} WHERE id = $3)`,
          values: [newId(), tenantA, first],
        },
        {
          text: `SELECT current_user AS role, current_setting('app.user_id') AS "user",
                        current_setting('transaction_read_only') AS read_only`,
          values: [],
        },
      ])
    })
    assert.lengthOf(sent, 1, sent.join('\n'))
    assert.deepEqual(results[0].rows, [{ id: first }])
    assert.equal(results[1].rowCount, 1)
    assert.deepEqual(results[2].rows, [{ role: APP_ROLE, user: userId, read_only: 'off' }])
    assert.deepEqual(await notes(), [`one@${tenantA}`, `two@${tenantA}`])
  })

  test('a statement that fails rolls back the ones before it and skips the ones after', async ({
    assert,
  }) => {
    const id = newId()
    await assert.rejects(
      () =>
        tenancy.write({ tenantId: tenantA }, [
          {
            text: `INSERT INTO ${table} (id, tenant_id, note) VALUES ($1, $2, 'kept?')`,
            values: [id, tenantA],
          },
          {
            text: `INSERT INTO ${table} (id, tenant_id, note) VALUES ($1, $2, 'duplicate')`,
            values: [id, tenantA],
          },
          {
            text: `INSERT INTO ${table} (id, tenant_id, note) VALUES ($1, $2, 'after')`,
            values: [newId(), tenantA],
          },
        ]),
      /duplicate key/
    )
    assert.deepEqual(await notes(), [])
  })

  test('row-level security holds: another tenant’s rows can be neither written nor changed', async ({
    assert,
  }) => {
    await db.table(table).insert({ id: newId(), tenant_id: tenantB, note: 'theirs' })
    await assert.rejects(
      () =>
        tenancy.write({ tenantId: tenantA }, [
          {
            text: `INSERT INTO ${table} (id, tenant_id, note) VALUES ($1, $2, 'planted')`,
            values: [newId(), tenantB],
          },
        ]),
      /row-level security/
    )
    const [changed] = await tenancy.write({ tenantId: tenantA }, [
      { text: `UPDATE ${table} SET note = 'mine now' WHERE note = 'theirs'`, values: [] },
    ])
    assert.equal(changed.rowCount, 0)
    assert.deepEqual(await notes(), [`theirs@${tenantB}`])
  })

  test('values of any kind in any statement; one that cannot be sent rejects and nothing is left hanging', async ({
    assert,
  }) => {
    const when = new Date('2026-01-02T03:04:05.000Z')
    const [echoed] = await tenancy.write({ tenantId: tenantA }, [
      {
        text: `SELECT $1::boolean AS flag, $2::timestamptz AS at, $3::jsonb AS doc, $4::int AS n`,
        values: [false, when, JSON.stringify({ a: [1] }), 7],
      },
      { text: 'SELECT 1 AS last', values: [] },
    ])
    assert.deepEqual(echoed.rows, [{ flag: false, at: when, doc: { a: [1] }, n: 7 }])

    const circular: Record<string, unknown> = {}
    circular.self = circular
    await assert.rejects(
      () =>
        tenancy.write({ tenantId: tenantA }, [
          {
            text: `INSERT INTO ${table} (id, tenant_id, note) VALUES ($1, $2, $3)`,
            values: [newId(), tenantA, circular],
          },
          { text: 'SELECT 1', values: [] },
        ]),
      /circular/i
    )
    assert.deepEqual(await notes(), [])
    // Every connection of the pool still answers (a half-sent sequence would hang one).
    const answers = await Promise.all(
      Array.from({ length: 12 }, () => tenancy.read({ tenantId: tenantA }, 'SELECT 1 AS one'))
    )
    assert.deepEqual(
      answers.flat(),
      Array.from({ length: 12 }, () => ({ one: 1 }))
    )
  })

  test('when the settings fail, no statement runs; bad ids are refused before sending', async ({
    assert,
  }) => {
    await assert.rejects(
      () =>
        oneTripWrite(
          { tenantId: tenantA },
          [
            {
              text: `INSERT INTO ${table} (id, tenant_id, note) VALUES ($1, $2, 'unguarded')`,
              values: [newId(), tenantA],
            },
          ],
          'no_such_role'
        ),
      /no_such_role/
    )
    assert.deepEqual(await notes(), [])
    await assert.rejects(
      () => tenancy.write({ tenantId: 'nope' }, [{ text: 'SELECT 1', values: [] }]),
      /uuid/
    )
  })
})
