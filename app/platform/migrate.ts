import type { ApplicationService } from '@adonisjs/core/types'

/** Applies pending migrations at start-up, so a fresh clone or a new release is ready without a manual step. */
export async function runPendingMigrations(app: ApplicationService) {
  const { MigrationRunner } = await import('@adonisjs/lucid/migration')
  const db = await app.container.make('lucid.db')
  const logger = await app.container.make('logger')
  const migrator = new MigrationRunner(db, app, { direction: 'up', dryRun: false })
  await migrator.run()
  if (migrator.error) throw migrator.error
  const applied = Object.keys(migrator.migratedFiles)
  if (applied.length)
    logger.info({ migrations: applied }, 'applied %d migration(s)', applied.length)
}
