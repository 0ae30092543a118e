import db from '@adonisjs/lucid/services/db'
import { newId } from '#app/platform/ids'
import { tenantIsolationSql } from '#app/tenancy/sql'
import { unitOfWorkLimits, type UnitOfWorkLimits } from '#app/tenancy/limits'

/**
 * Empties every table of a module (named `<prefix>_…`), whatever tables it
 * has now: no hand-kept TRUNCATE list to forget a new table in.
 */
export async function resetModuleTables(prefix: string) {
  if (!/^[a-z][a-z0-9_]*$/.test(prefix)) throw new Error(`not a table prefix: ${prefix}`)
  const { rows } = await db.rawQuery(
    `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE ?`,
    [`${prefix}\\_%`]
  )
  if (rows.length === 0) return
  const tables = rows.map((row: { tablename: string }) => `"${row.tablename}"`).join(', ')
  await db.rawQuery(`TRUNCATE ${tables} CASCADE`)
}

/** A tenant table of notes under row-level security, as modules make theirs; returns its drop. */
export async function createNotesTable(table: string) {
  await db.rawQuery(
    `CREATE TABLE ${table} (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, note text)`
  )
  for (const statement of tenantIsolationSql(table)) await db.rawQuery(statement)
  return async () => {
    await db.rawQuery(`DROP TABLE ${table}`)
  }
}

/**
 * A notes table (createNotesTable) holding two notes of `tenantA` ('a1',
 * 'a2') and one of `tenantB` ('b1'); returns its drop, for a group's setup.
 */
export async function createNotesOfTwoTenants(table: string, tenantA: string, tenantB: string) {
  const drop = await createNotesTable(table)
  await db.table(table).multiInsert([
    { id: newId(), tenant_id: tenantA, note: 'a1' },
    { id: newId(), tenant_id: tenantA, note: 'a2' },
    { id: newId(), tenant_id: tenantB, note: 'b1' },
  ])
  return drop
}

/** Runs `work` with the units of work's limits changed, then puts them back. */
export async function withUnitOfWorkLimits<T>(
  limits: Partial<UnitOfWorkLimits>,
  work: () => Promise<T>
): Promise<T> {
  const saved = { ...unitOfWorkLimits }
  Object.assign(unitOfWorkLimits, limits)
  try {
    return await work()
  } finally {
    Object.assign(unitOfWorkLimits, saved)
  }
}
