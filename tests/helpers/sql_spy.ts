import pg from 'pg'

/**
 * Every statement message handed to a PostgreSQL connection of this process
 * while `work` runs, in order: how tests count round trips and prove a path
 * does (or does not) touch a table.
 */
export async function statementsSentDuring(work: () => Promise<unknown>) {
  const sent: string[] = []
  const original = pg.Client.prototype.query
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const config = args[0] as string | { text: string }
    sent.push(typeof config === 'string' ? config : config.text)
    return (original as (...inner: unknown[]) => unknown).apply(this, args)
  } as typeof original
  try {
    await work()
  } finally {
    pg.Client.prototype.query = original
  }
  return sent
}

/**
 * Whether some session holds the session-level advisory lock `key` — how a test
 * proves a statement taking it never ran (the lock outlives its transaction).
 * A holder found is terminated, so a failing test leaves no lock behind.
 */
export async function advisoryLockTaken(key: number) {
  const { default: db } = await import('@adonisjs/lucid/services/db')
  const { rows } = await db.rawQuery(
    `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = ?`,
    [key]
  )
  for (const row of rows) await db.rawQuery('SELECT pg_terminate_backend(?)', [row.pid])
  return rows.length > 0
}
