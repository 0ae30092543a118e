import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { tenancy } from '#app/tenancy/tenancy'
import { APP_ROLE } from '#app/tenancy/sql'
import { newId } from '#app/platform/ids'
import { advisoryLockTaken, statementsSentDuring } from '#tests/helpers/sql_spy'

test.group('a unit of work begins with its first statement', () => {
  test('BEGIN, the role and both settings travel with the first query; one read costs two messages in all', async ({
    assert,
  }) => {
    const tenantId = newId()
    const userId = newId()
    let seen: Record<string, string> = {}
    const sent = await statementsSentDuring(() =>
      tenancy.run(
        tenantId,
        async (trx) => {
          const { rows } = await trx.rawQuery(
            `SELECT current_user AS role, current_setting('app.tenant_id') AS tenant,
                    current_setting('app.user_id') AS "user", ?::int AS echoed`,
            [7]
          )
          seen = rows[0]
        },
        { userId }
      )
    )
    assert.deepEqual(seen, { role: APP_ROLE, tenant: tenantId, user: userId, echoed: 7 })
    assert.lengthOf(sent, 2, sent.join('\n'))
    assert.match(sent[0], /^SELECT current_user AS role/)
    assert.match(sent[1], /^COMMIT/)
  })

  test('a first statement without values carries the entry in one simple message', async ({
    assert,
  }) => {
    const tenantId = newId()
    let seen: Record<string, string> = {}
    const sent = await statementsSentDuring(() =>
      tenancy.run(tenantId, async (trx) => {
        const { rows } = await trx.rawQuery(
          `SELECT current_user AS role, current_setting('app.tenant_id') AS tenant`
        )
        seen = rows[0]
        // Later statements run in the same transaction, on the same settings.
        const again = await trx.rawQuery(`SELECT current_setting('app.tenant_id') AS tenant`)
        assert.equal(again.rows[0].tenant, tenantId)
      })
    )
    assert.deepEqual(seen, { role: APP_ROLE, tenant: tenantId })
    assert.lengthOf(sent, 3, sent.join('\n'))
    assert.match(sent[0], /^BEGIN; SELECT set_config\('role'/)
  })

  test('a platform unit of work keeps its role, and its BEGIN travels with the first statement', async ({
    assert,
  }) => {
    const { beginWithFirstStatement } = await import('#app/tenancy/begin_with_settings')
    const table = `test_platform_begin_${process.pid}`
    await db.rawQuery(`CREATE TABLE IF NOT EXISTS ${table} (id uuid PRIMARY KEY)`)
    await db.rawQuery(`TRUNCATE ${table}`)
    const id = newId()
    let seen: Record<string, unknown> = {}
    const sent = await statementsSentDuring(() =>
      db.transaction(async (trx) => {
        const { rows } = await trx.rawQuery(`SELECT current_user AS role, ?::int AS echoed`, [7])
        seen = rows[0]
        await trx.rawQuery(`INSERT INTO ${table} (id) VALUES (?)`, [id])
        const counted = await trx.rawQuery(`SELECT count(*)::int AS n FROM ${table}`)
        seen.counted = counted.rows[0].n
      }, beginWithFirstStatement())
    )
    // Not the app role; the first statement ran inside the transaction BEGIN opened.
    assert.notEqual(seen.role, APP_ROLE)
    assert.deepInclude(seen, { echoed: 7, counted: 1 })
    assert.lengthOf(sent, 4, sent.join('\n'))
    assert.match(sent[0], /^SELECT current_user AS role/)
    assert.match(sent[3], /^COMMIT/)
    assert.lengthOf(await db.from(table).where('id', id), 1)

    // A first statement without values: BEGIN and it in one simple message, its own result back.
    let plain: Record<string, unknown> = {}
    const simple = await statementsSentDuring(() =>
      db.transaction(async (trx) => {
        const { rows } = await trx.rawQuery(`SELECT count(*)::int AS n FROM ${table}`)
        plain = rows[0]
      }, beginWithFirstStatement())
    )
    assert.deepEqual(plain, { n: 1 })
    assert.lengthOf(simple, 2, simple.join('\n'))
    assert.match(simple[0], /^BEGIN; SELECT count/)

    // A failing one rolls back what it wrote, and one that ran nothing sends nothing.
    await assert.rejects(() =>
      db.transaction(async (trx) => {
        await trx.rawQuery(`INSERT INTO ${table} (id) VALUES (?)`, [newId()])
        throw new Error('after a write')
      }, beginWithFirstStatement())
    )
    assert.lengthOf(await db.from(table), 1)
    const idle = await statementsSentDuring(() =>
      db.transaction(async () => 'idle', beginWithFirstStatement())
    )
    assert.deepEqual(idle, [])
    await db.rawQuery(`DROP TABLE ${table}`)
  })

  test('a unit of work that runs no query sends nothing at all', async ({ assert }) => {
    const sent = await statementsSentDuring(() => tenancy.runAsUser(newId(), async () => 'idle'))
    // COMMIT (and ROLLBACK below) are answered without the database: nothing was begun.
    assert.deepEqual(sent, [])
    const failed = await statementsSentDuring(() =>
      tenancy
        .run(newId(), async () => {
          throw new Error('before any query')
        })
        .catch(() => null)
    )
    assert.deepEqual(failed, [])
  })

  test('when the entry fails, the first statement never runs', async ({ assert }) => {
    const lockKey = 525_252_000 + (process.pid % 1000)
    // A role that does not exist, bound where the real one goes.
    const { ENTER_STATEMENT } = await import('#app/tenancy/begin_with_settings')
    await assert.rejects(
      () =>
        db.transaction(
          async (trx) => {
            await trx.rawQuery('SELECT pg_advisory_lock(?)', [lockKey])
          },
          {
            [ENTER_STATEMENT]: {
              statement: `SELECT set_config('role', 'no_such_role', true)`,
              boundStatement: `SELECT set_config('role', $1, true), $2, $3`,
              values: ['no_such_role', '', ''],
            },
          } as unknown as Record<string, never>
        ),
      /no_such_role/
    )
    assert.isFalse(await advisoryLockTaken(lockKey), 'the statement ran although its entry failed')
  })

  test('an isolation level is kept alongside the settings', async ({ assert }) => {
    const level = await tenancy.run(
      newId(),
      async (trx) => {
        const { rows } = await trx.rawQuery(
          `SELECT current_setting('transaction_isolation') AS level, current_user AS role`
        )
        return rows[0]
      },
      { isolationLevel: 'serializable' }
    )
    assert.deepEqual(level, { level: 'serializable', role: APP_ROLE })
  })

  test('settings end with the unit of work: the next transaction on the pool is plain', async ({
    assert,
  }) => {
    await tenancy.runAsUser(newId(), async () => {})
    const rows = await db.transaction(async (trx) => {
      const result = await trx.rawQuery(
        `SELECT current_user AS role, current_setting('app.tenant_id', true) AS tenant`
      )
      return result.rows[0]
    })
    assert.notEqual(rows.role, APP_ROLE)
    assert.include([null, ''], rows.tenant)
  })

  test('a failing unit of work rolls back everything it wrote', async ({ assert }) => {
    const table = `test_one_trip_${Date.now()}`
    await db.rawQuery(`CREATE TABLE ${table} (id uuid PRIMARY KEY)`)
    await db.rawQuery(`GRANT ALL ON ${table} TO ${APP_ROLE}`)
    try {
      await assert.rejects(() =>
        tenancy.run(newId(), async (trx) => {
          await trx.table(table).insert({ id: newId() })
          throw new Error('work failed after its write')
        })
      )
      const { rows } = await db.rawQuery(`SELECT count(*)::int AS n FROM ${table}`)
      assert.equal(rows[0].n, 0)
    } finally {
      await db.rawQuery(`DROP TABLE ${table}`)
    }
  })

  test('ids that are not uuids never reach the inlined statement', async ({ assert }) => {
    await assert.rejects(
      () => tenancy.run(`x', true), set_config('role', 'postgres`, async () => {}),
      /tenant uuid/
    )
    await assert.rejects(() => tenancy.runAsUser(`'; DROP TABLE x; --`, async () => {}), /uuid/)
  })
})
