import pg from 'pg'
import type { ApplicationService } from '@adonisjs/core/types'

/**
 * Lucid's own advisory lock key for migrations: a starting server and
 * `node ace migration:run` exclude each other.
 */
const MIGRATION_LOCK = 1
/** How long a starting process waits for another one's migrations before it gives up. */
const LOCK_WAIT_MS = 5 * 60_000

/**
 * Applies pending migrations at start-up, so a fresh clone or a new release
 * is ready without a manual step — once, however many servers start
 * together (API processes scaled apart, replicas).
 *
 * Lucid's runner takes its lock with `pg_try_advisory_lock` on whichever
 * pooled connection comes next and fails at once when it is taken, so of
 * two processes started together one exited with status 1 (bench scripts
 * saw it one start in six). Here the lock is held on a connection of its
 * own for the whole run, and a process that finds it taken waits for the
 * other to finish (then usually finds nothing pending).
 */
export async function runPendingMigrations(app: ApplicationService) {
  const { MigrationRunner } = await import('@adonisjs/lucid/migration')
  const { default: env } = await import('#start/env')
  const db = await app.container.make('lucid.db')
  const logger = await app.container.make('logger')
  const lock = new pg.Client({ connectionString: env.get('DATABASE_URL') })
  await lock.connect()
  try {
    const { rows } = await lock.query<{ taken: boolean }>(
      'SELECT pg_try_advisory_lock($1) AS taken',
      [MIGRATION_LOCK]
    )
    if (!rows[0].taken) {
      logger.info('another process is migrating the database; waiting for it')
      await lock.query(`SET lock_timeout = ${LOCK_WAIT_MS}`)
      try {
        await lock.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
      } catch (error) {
        if ((error as { code?: string }).code !== '55P03') throw error
        throw new Error(
          `another process has held the migration lock for ${LOCK_WAIT_MS / 60_000} minutes; ` +
            'is a `node ace migration:run` stuck? Start again once it has finished',
          { cause: error }
        )
      }
    }
    const migrator = new MigrationRunner(db, app, {
      direction: 'up',
      dryRun: false,
      disableLocks: true,
    })
    await migrator.run()
    if (migrator.error) throw migrator.error
    const applied = Object.keys(migrator.migratedFiles)
    if (applied.length)
      logger.info({ migrations: applied }, 'applied %d migration(s)', applied.length)
  } finally {
    // Closing the session releases the lock too; the unlock only makes it prompt.
    await lock.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {})
    await lock.end().catch(() => {})
  }
}
