import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import type pg from 'pg'
import { tenancy } from '#app/tenancy/tenancy'
import { APP_ROLE } from '#app/tenancy/sql'
import { createNotesOfTwoTenants } from '#tests/helpers/database'
import { newId } from '#app/platform/ids'
import { statementsSentDuring } from '#tests/helpers/sql_spy'

/*
| tenancy.run(…, { readOnly: true }) opens no transaction: every statement
| carries the role and settings in front and runs as its own read-only
| implicit transaction (begin_with_settings.ts, enterWithEveryQuery). These
| prove it keeps a unit of work's promises — role, settings and row-level
| security on every statement, nothing written — and that the connection
| goes back to the pool with nothing of it left behind.
*/

/** The pool's idle connections, as knex's pool (tarn) holds them. */
function idleConnections(): pg.Client[] {
  const client = db.connection().getWriteClient().client as unknown as {
    pool: { free: { resource: pg.Client }[] }
  }
  return client.pool.free.map((entry) => entry.resource)
}

/** The SQLSTATE of what `work` rejected with, or null when it did not. */
async function sqlStateOf(work: Promise<unknown>) {
  try {
    await work
    return null
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message
  }
}

test.group('tenancy.run readOnly: each statement on its own, with its settings', (group) => {
  const table = `test_read_only_uow_${process.pid}`
  const tenantA = newId()
  const tenantB = newId()

  group.setup(() => createNotesOfTwoTenants(table, tenantA, tenantB))

  test('every statement runs as the app role with the settings, read only; no BEGIN, no COMMIT', async ({
    assert,
  }) => {
    const userId = newId()
    const seen: Record<string, unknown>[] = []
    const settingsSql = `SELECT current_user AS role, current_setting('app.tenant_id') AS tenant,
              current_setting('app.user_id') AS "user", current_setting('transaction_read_only') AS read_only`
    const sent = await statementsSentDuring(() =>
      tenancy.run(
        tenantA,
        async (trx) => {
          // With values (one extended-protocol sequence) and without (one simple message).
          const withValues = await trx.rawQuery(`${settingsSql}, ?::int AS echoed`, [7])
          const withoutValues = await trx.rawQuery(settingsSql)
          const again = await trx.rawQuery(`${settingsSql}, ?::int AS echoed`, [8])
          seen.push(withValues.rows[0], withoutValues.rows[0], again.rows[0])
        },
        { userId, readOnly: true }
      )
    )
    const expected = { role: APP_ROLE, tenant: tenantA, user: userId, read_only: 'on' }
    assert.deepEqual(seen, [{ ...expected, echoed: 7 }, expected, { ...expected, echoed: 8 }])
    assert.lengthOf(sent, 3, sent.join('\n'))
    assert.notMatch(sent.join('\n'), /\bBEGIN\b|\bCOMMIT\b/)
  })

  test('row-level security holds on every statement, through Lucid query builders too', async ({
    assert,
  }) => {
    const notes = await tenancy.run(
      tenantA,
      async (trx) => {
        const first = await trx.from(table).select('note').orderBy('note')
        const counted = await trx.from(table).count('* as n')
        return { first: first.map((row) => row.note), n: Number(counted[0].n) }
      },
      { readOnly: true }
    )
    assert.deepEqual(notes, { first: ['a1', 'a2'], n: 2 })
    const other = await tenancy.run(tenantB, (trx) => trx.from(table).select('note'), {
      readOnly: true,
    })
    assert.deepEqual(
      other.map((row) => row.note),
      ['b1']
    )
  })

  test('a write or a row lock fails, and nothing is written', async ({ assert }) => {
    const id = newId()
    assert.equal(
      await sqlStateOf(
        tenancy.run(
          tenantA,
          (trx) => trx.table(table).insert({ id, tenant_id: tenantA, note: 'sneaked' }),
          { readOnly: true }
        )
      ),
      '25006'
    )
    assert.equal(
      await sqlStateOf(
        tenancy.run(tenantA, (trx) => trx.from(table).forUpdate().select('id'), { readOnly: true })
      ),
      '25006'
    )
    // A statement of its own commits on its Sync: had the insert run, it would be there.
    assert.lengthOf(await db.from(table).where('id', id), 0)
  })

  test('a nested transaction and an isolation level are refused', async ({ assert }) => {
    let nested: unknown = 'not run'
    const sent = await statementsSentDuring(async () => {
      nested = await sqlStateOf(
        tenancy.run(tenantA, (trx) => trx.transaction((inner) => inner.from(table).select('id')), {
          readOnly: true,
        })
      )
    })
    // Knex reports the refused SAVEPOINT as its transaction being complete; nothing was sent.
    assert.isNotNull(nested)
    assert.deepEqual(sent, [])
    const isolated = await sqlStateOf(
      tenancy.run(tenantA, (trx) => trx.from(table).select('id'), {
        readOnly: true,
        isolationLevel: 'repeatable read',
      })
    )
    assert.match(String(isolated), /no transaction to isolate/)
  })

  test('statements issued together each carry their own settings', async ({ assert }) => {
    const results = await tenancy.run(
      tenantA,
      (trx) =>
        Promise.all(
          [1, 2, 3, 4].map((n) =>
            trx.rawQuery(`SELECT current_setting('app.tenant_id') AS tenant, ?::int AS n`, [n])
          )
        ),
      { readOnly: true }
    )
    assert.deepEqual(
      results.map((result) => result.rows[0]),
      [1, 2, 3, 4].map((n) => ({ tenant: tenantA, n }))
    )
  })

  test('the connection goes back to the pool clean, after success and after failure', async ({
    assert,
  }) => {
    await tenancy.run(tenantA, (trx) => trx.from(table).select('id'), { readOnly: true })
    await sqlStateOf(tenancy.run(tenantA, (trx) => trx.rawQuery('SELECT 1/0'), { readOnly: true }))
    await sqlStateOf(
      tenancy.run(
        tenantA,
        async () => {
          throw new Error('before any statement')
        },
        { readOnly: true }
      )
    )
    for (const connection of idleConnections()) {
      assert.isFalse(Object.hasOwn(connection, 'query'), 'a pool connection kept its own query')
    }
    // Whatever connection the pool hands out next runs as itself, with no tenant, in no transaction.
    const after = await Promise.all(
      [1, 2, 3].map(() =>
        db.rawQuery(
          `SELECT current_user AS role, current_setting('app.tenant_id', true) AS tenant,
                  now() = statement_timestamp() AS own_transaction`
        )
      )
    )
    for (const { rows } of after) {
      assert.notEqual(rows[0].role, APP_ROLE)
      assert.include(['', null], rows[0].tenant)
      assert.isTrue(rows[0].own_transaction)
    }
  })

  test('a failing statement fails alone; the next statement of the same work still runs', async ({
    assert,
  }) => {
    const after = await tenancy.run(
      tenantA,
      async (trx) => {
        const failed = await sqlStateOf(trx.rawQuery('SELECT 1/0'))
        const { rows } = await trx.rawQuery(
          `SELECT current_setting('app.tenant_id') AS tenant, ?::int AS n`,
          [1]
        )
        return { failed, row: rows[0] }
      },
      { readOnly: true }
    )
    // In a transaction the second would fail too (25P02): here there is none to abort.
    assert.deepEqual(after, { failed: '22012', row: { tenant: tenantA, n: 1 } })
  })
})
