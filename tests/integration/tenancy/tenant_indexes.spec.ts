import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { dropRedundantTenantIndexSql, indexTenantUnlessLedSql } from '#app/tenancy/sql'

/*
| Every query of a tenant table filters on tenant_id, so each needs an index
| that starts with it — and only one: a plain tenant_id index beside a
| (tenant_id, …) index is paid for by every insert and answers nothing the
| other cannot (bench:tenant-index).
*/

/** Tenant tables whose rows no query looks up by tenant (said why). */
const NOT_READ_BY_TENANT: Record<string, string> = {
  messaging_outbox:
    'units of work only insert; the relay reads by availability (its partial messaging_outbox_turns index)',
}

/** Each index of the public schema's tables: its table, name, key columns, and whether it is unique or partial. */
async function indexes() {
  const { rows } = await db.rawQuery(`
    SELECT c.relname AS "table", i.relname AS name, x.indisunique AS "unique",
           x.indpred IS NOT NULL AS partial,
           array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(attnum, position)
                   JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                  ORDER BY k.position)::text[] AS columns
      FROM pg_index x
      JOIN pg_class c ON c.oid = x.indrelid
      JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public'`)
  return rows as Array<{
    table: string
    name: string
    unique: boolean
    partial: boolean
    columns: string[]
  }>
}

async function tenantTables() {
  const { rows } = await db.rawQuery(`
    SELECT c.relname AS "table" FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity
       -- Other tests' fixture tables, not the migrated schema.
       AND c.relname NOT LIKE 'test\\_%'
       AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')`)
  return (rows as Array<{ table: string }>).map((row) => row.table)
}

test.group('tenant indexes: the migrated schema', () => {
  test('every tenant table has an index that starts with tenant_id', async ({ assert }) => {
    const all = await indexes()
    const tables = await tenantTables()
    assert.isAbove(tables.length, 15)
    const missing = tables.filter(
      (table) =>
        !(table in NOT_READ_BY_TENANT) &&
        !all.some((index) => index.table === table && index.columns[0] === 'tenant_id')
    )
    assert.deepEqual(missing, [])
  })

  test('no table keeps a plain tenant_id index beside one that starts with it', async ({
    assert,
  }) => {
    const every = await indexes()
    const all = every.filter((index) => !index.table.startsWith('test_'))
    const redundant = all
      .filter((index) => !index.unique && index.columns.join() === 'tenant_id')
      .filter((plain) =>
        all.some(
          (other) =>
            other.table === plain.table &&
            other.name !== plain.name &&
            !other.partial &&
            other.columns.length > 1 &&
            other.columns[0] === 'tenant_id'
        )
      )
      .map((index) => `${index.table}.${index.name}`)
    assert.deepEqual(redundant, [])
  })
})

test.group('tenant indexes: the migration helpers', (group) => {
  const scratch = ['test_ti_led', 'test_ti_bare', 'test_ti_pair', 'test_ti_partial']
  const drop = () => db.rawQuery(`DROP TABLE IF EXISTS ${scratch.join(', ')}`)
  group.each.setup(async () => {
    await drop()
    return drop
  })

  async function indexNames(table: string) {
    const all = await indexes()
    return all
      .filter((index) => index.table === table)
      .map((index) => index.name)
      .sort()
  }

  test('createTenantTable’s index is made only when none starts with tenant_id', async ({
    assert,
  }) => {
    await db.rawQuery(
      `CREATE TABLE test_ti_led (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, sku text,
                                 CONSTRAINT test_ti_led_sku UNIQUE (tenant_id, sku))`
    )
    await db.rawQuery(`CREATE TABLE test_ti_bare (id uuid PRIMARY KEY, tenant_id uuid NOT NULL)`)
    for (const table of ['test_ti_led', 'test_ti_bare']) {
      await db.rawQuery(indexTenantUnlessLedSql(table))
    }
    assert.deepEqual(await indexNames('test_ti_led'), ['test_ti_led_pkey', 'test_ti_led_sku'])
    assert.deepEqual(await indexNames('test_ti_bare'), [
      'test_ti_bare_pkey',
      'test_ti_bare_tenant_id_index',
    ])
  })

  test('only a plain tenant_id index that a full (tenant_id, …) index covers is dropped', async ({
    assert,
  }) => {
    await db.rawQuery(
      `CREATE TABLE test_ti_pair (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, created_at timestamptz)`
    )
    await db.rawQuery(`CREATE INDEX test_ti_pair_plain ON test_ti_pair (tenant_id)`)
    await db.rawQuery(`CREATE INDEX test_ti_pair_list ON test_ti_pair (tenant_id, created_at)`)
    // A partial index answers only its own rows: the plain one stays.
    await db.rawQuery(
      `CREATE TABLE test_ti_partial (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, done boolean)`
    )
    await db.rawQuery(`CREATE INDEX test_ti_partial_plain ON test_ti_partial (tenant_id)`)
    await db.rawQuery(
      `CREATE INDEX test_ti_partial_open ON test_ti_partial (tenant_id, id) WHERE NOT done`
    )
    for (const table of ['test_ti_pair', 'test_ti_partial']) {
      await db.rawQuery(dropRedundantTenantIndexSql(table))
    }
    assert.deepEqual(await indexNames('test_ti_pair'), ['test_ti_pair_list', 'test_ti_pair_pkey'])
    assert.deepEqual(await indexNames('test_ti_partial'), [
      'test_ti_partial_open',
      'test_ti_partial_pkey',
      'test_ti_partial_plain',
    ])
  })
})
