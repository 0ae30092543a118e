import db from '@adonisjs/lucid/services/db'

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
