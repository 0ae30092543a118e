import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { tenancy } from '#app/tenancy/tenancy'
import { APP_ROLE, TENANT_POLICY, tenantIsolationSql } from '#app/tenancy/sql'
import { newId } from '#app/platform/ids'

const TABLE = 'test_tenant_notes'
const tenantA = newId()
const tenantB = newId()

async function createFixtureTable() {
  await db.rawQuery(`DROP TABLE IF EXISTS ${TABLE}`)
  await db.rawQuery(
    `CREATE TABLE ${TABLE} (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, body text NOT NULL)`
  )
  for (const statement of tenantIsolationSql(TABLE)) await db.rawQuery(statement)
  // Seeded by the connection user (a superuser here), which RLS does not restrict.
  const rows = [
    ...['a1', 'a2'].map((body) => ({ id: newId(), tenant_id: tenantA, body })),
    ...['b1', 'b2', 'b3'].map((body) => ({ id: newId(), tenant_id: tenantB, body })),
  ]
  await db.table(TABLE).multiInsert(rows)
  return rows
}

function errorCode(error: unknown) {
  return (error as { code?: string }).code
}

test.group('row-level security through tenancy.run', (group) => {
  group.each.setup(async () => {
    await createFixtureTable()
  })

  test('a raw SELECT in tenant A sees only A rows', async ({ assert }) => {
    const bodies = await tenancy.run(tenantA, async (trx) => {
      const { rows } = await trx.rawQuery(`SELECT * FROM ${TABLE} ORDER BY body`)
      return rows.map((row: { body: string }) => row.body)
    })
    assert.deepEqual(bodies, ['a1', 'a2'])
  })

  test('the unit of work runs as the app role with the tenant set', async ({ assert }) => {
    const state = await tenancy.run(tenantA, async (trx) => {
      const { rows } = await trx.rawQuery(
        `SELECT current_user AS role, app_current_tenant() AS tenant`
      )
      return rows[0]
    })
    assert.deepEqual(state, { role: APP_ROLE, tenant: tenantA })
  })

  test('inserting a row for tenant B inside A fails, and nothing is written', async ({
    assert,
  }) => {
    try {
      await tenancy.run(tenantA, (trx) =>
        trx.table(TABLE).insert({ id: newId(), tenant_id: tenantB, body: 'sneaky' })
      )
      assert.fail('the insert should have been refused')
    } catch (error) {
      assert.equal(errorCode(error), '42501')
    }
    const [{ count }] = await db.from(TABLE).where('body', 'sneaky').count('* as count')
    assert.equal(Number(count), 0)
  })

  test('moving an A row to tenant B fails', async ({ assert }) => {
    try {
      await tenancy.run(tenantA, (trx) =>
        trx.from(TABLE).where('body', 'a1').update({ tenant_id: tenantB })
      )
      assert.fail('the update should have been refused')
    } catch (error) {
      assert.equal(errorCode(error), '42501')
    }
  })

  test('UPDATE and DELETE inside A cannot reach B rows', async ({ assert }) => {
    const [updated, deleted] = await tenancy.run(tenantA, async (trx) => [
      await trx.from(TABLE).where('body', 'like', 'b%').update({ body: 'changed' }),
      await trx.from(TABLE).where('body', 'like', 'b%').delete(),
    ])
    assert.deepEqual([updated, deleted], [0, 0])
    const [{ count }] = await db.from(TABLE).where('tenant_id', tenantB).count('* as count')
    assert.equal(Number(count), 3)
  })

  test('the app role outside any unit of work sees zero rows', async ({ assert }) => {
    const count = await db.transaction(async (trx) => {
      await trx.rawQuery(`SET LOCAL ROLE ${APP_ROLE}`)
      const { rows } = await trx.rawQuery(`SELECT count(*)::int AS count FROM ${TABLE}`)
      return rows[0].count
    })
    assert.equal(count, 0)
  })

  test('a tenant setting left as an empty string (after a previous unit of work) means no tenant', async ({
    assert,
  }) => {
    const count = await db.transaction(async (trx) => {
      await trx.rawQuery(`SET LOCAL ROLE ${APP_ROLE}`)
      await trx.rawQuery(`SELECT set_config('app.tenant_id', '', true)`)
      const { rows } = await trx.rawQuery(`SELECT count(*)::int AS count FROM ${TABLE}`)
      return rows[0].count
    })
    assert.equal(count, 0)
  })

  test('role and tenant do not outlive the unit of work on the pooled connection', async ({
    assert,
  }) => {
    await tenancy.run(tenantA, (trx) => trx.rawQuery('SELECT 1'))
    const { rows } = await db.rawQuery(
      `SELECT current_user AS role, app_current_tenant() AS tenant`
    )
    assert.notEqual(rows[0].role, APP_ROLE)
    assert.isNull(rows[0].tenant)
  })

  test('an error inside the unit of work rolls everything back', async ({ assert }) => {
    await assert.rejects(() =>
      tenancy.run(tenantA, async (trx) => {
        await trx.table(TABLE).insert({ id: newId(), tenant_id: tenantA, body: 'rolled-back' })
        throw new Error('boom')
      })
    )
    const [{ count }] = await db.from(TABLE).where('body', 'rolled-back').count('* as count')
    assert.equal(Number(count), 0)
  })

  test('concurrent units of work for two tenants never see each other', async ({ assert }) => {
    const runs = Array.from({ length: 24 }, (_, index) => {
      const tenant = index % 2 === 0 ? tenantA : tenantB
      return tenancy.run(tenant, async (trx) => {
        await trx.rawQuery('SELECT pg_sleep(0.01)')
        const { rows } = await trx.rawQuery(`SELECT DISTINCT tenant_id FROM ${TABLE}`)
        return { tenant, seen: rows.map((row: { tenant_id: string }) => row.tenant_id) }
      })
    })
    for (const { tenant, seen } of await Promise.all(runs)) assert.deepEqual(seen, [tenant])
  })

  test('a malformed tenant id is refused before any query', async ({ assert }) => {
    await assert.rejects(() => tenancy.run("x' OR '1'='1", async () => 1), /tenant uuid/)
    await assert.rejects(() => tenancy.run('', async () => 1), /tenant uuid/)
  })
})

test.group('a non-superuser table owner (managed databases)', () => {
  test('sees every row through the platform policy, while the app role stays confined', async ({
    assert,
  }) => {
    // Everything happens in one transaction that is rolled back: role, table and rows leave no trace.
    const result = await db
      .transaction(async (trx) => {
        await trx.rawQuery(`DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'atrium_test_owner') THEN
            CREATE ROLE atrium_test_owner NOLOGIN;
          END IF; END $$`)
        await trx.rawQuery('GRANT CREATE, USAGE ON SCHEMA public TO atrium_test_owner')
        await trx.rawQuery(`GRANT ${APP_ROLE} TO atrium_test_owner`)
        await trx.rawQuery('SET LOCAL ROLE atrium_test_owner')
        await trx.rawQuery(
          'CREATE TABLE test_owned_notes (id uuid PRIMARY KEY, tenant_id uuid NOT NULL)'
        )
        for (const statement of tenantIsolationSql('test_owned_notes'))
          await trx.rawQuery(statement)
        await trx.rawQuery('INSERT INTO test_owned_notes VALUES (?, ?), (?, ?)', [
          newId(),
          tenantA,
          newId(),
          tenantB,
        ])
        const { rows: owner } = await trx.rawQuery(
          'SELECT count(*)::int AS count FROM test_owned_notes'
        )
        await trx.rawQuery(
          `SELECT set_config('role', ?, true), set_config('app.tenant_id', ?, true)`,
          [APP_ROLE, tenantA]
        )
        const { rows: app } = await trx.rawQuery(
          'SELECT count(*)::int AS count FROM test_owned_notes'
        )
        throw Object.assign(new Error('rollback'), { counts: [owner[0].count, app[0].count] })
      })
      .catch((error: { counts?: number[] }) => error.counts)
    assert.deepEqual(result, [2, 1])
  })
})

test.group('row-level security with extra visibility', () => {
  test('rows made visible to other tenants can be read there, never changed or deleted', async ({
    assert,
  }) => {
    const table = 'test_shared_notes'
    await db.rawQuery(`DROP TABLE IF EXISTS ${table}`)
    await db.rawQuery(
      `CREATE TABLE ${table} (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, body text NOT NULL)`
    )
    for (const statement of tenantIsolationSql(table, { extraVisibility: "body LIKE 'public%'" }))
      await db.rawQuery(statement)
    const shared = newId()
    await db.table(table).multiInsert([
      { id: shared, tenant_id: tenantB, body: 'public note of B' },
      { id: newId(), tenant_id: tenantB, body: 'private note of B' },
    ])
    const outcome = await tenancy.run(tenantA, async (trx) => {
      const { rows } = await trx.rawQuery(`SELECT body FROM ${table}`)
      const updated = await trx.rawQuery(`UPDATE ${table} SET body = 'public, changed by A'`)
      const deleted = await trx.rawQuery(`DELETE FROM ${table}`)
      return {
        seen: rows.map((row: { body: string }) => row.body),
        updated: updated.rowCount,
        deleted: deleted.rowCount,
      }
    })
    assert.deepEqual(outcome, { seen: ['public note of B'], updated: 0, deleted: 0 })
    const left = await db.from(table).where('id', shared).first()
    assert.equal(left.body, 'public note of B')
    await db.rawQuery(`DROP TABLE ${table}`)
  })
})

test.group('tenant table audit', () => {
  test('every table with a tenant_id column has forced RLS, the tenant policy and app-role access', async ({
    assert,
  }) => {
    await createFixtureTable()
    const { rows } = await db.rawQuery(
      `SELECT c.relname AS table,
              c.relrowsecurity AS enabled,
              c.relforcerowsecurity AS forced,
              EXISTS (SELECT 1 FROM pg_policies p
                       WHERE p.schemaname = n.nspname AND p.tablename = c.relname AND p.policyname = ?
                         AND p.roles = ARRAY[?]::name[]) AS has_policy,
              (has_table_privilege(?, c.oid, 'SELECT') OR has_table_privilege(?, c.oid, 'INSERT')) AS app_can_use
         FROM information_schema.columns col
         JOIN pg_class c ON c.relname = col.table_name
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = col.table_schema
        WHERE col.column_name = 'tenant_id' AND col.table_schema = 'public' AND c.relkind = 'r'
        ORDER BY c.relname`,
      [TENANT_POLICY, APP_ROLE, APP_ROLE, APP_ROLE]
    )
    assert.isAbove(rows.length, 0, 'expected at least the fixture table')
    const unprotected = rows
      .filter(
        (row: { enabled: boolean; forced: boolean; has_policy: boolean; app_can_use: boolean }) =>
          !row.enabled || !row.forced || !row.has_policy || !row.app_can_use
      )
      .map((row: { table: string }) => row.table)
    assert.deepEqual(
      unprotected,
      [],
      `tenant tables without forced RLS + policy: ${unprotected.join(', ')}`
    )
  })
})
