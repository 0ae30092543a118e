import 'reflect-metadata'
import { join } from 'node:path'
import { Ignitor } from '@adonisjs/core'
import { preboot } from '#app/platform/preboot'
import { APP_ROOT } from './processes.js'

/**
 * Boots Atrium inside the bench process (as `node ace` would), on the bench's
 * own embedded PostgreSQL, migrated. Fixed APP_KEY: the bench database keeps
 * secrets encrypted with it (bench data only).
 */
export async function bootInProcess() {
  process.env.NODE_ENV ??= 'production'
  process.env.APP_KEY ??= 'atrium-bench-only-app-key-0123456789abcdef'
  process.env.LOG_LEVEL ??= 'warn'
  process.env.EMBEDDED_PG_PORT ??= '29403'
  process.env.EMBEDDED_PG_DATA ??= join(APP_ROOT, 'storage', 'bench-postgres', 'data')

  const appRoot = new URL('../../', import.meta.url)
  const { database } = await preboot(appRoot, { database: true })
  const app = new Ignitor(appRoot, {
    importer: (path: string) =>
      path.startsWith('.') ? import(new URL(path, appRoot).href) : import(path),
  })
    .tap((application) => application.booting(async () => void (await import('#start/env'))))
    .createApp('console')
  await app.init()
  await app.boot()
  await app.start(async () => {})
  const { runPendingMigrations } = await import('#app/platform/migrate')
  await runPendingMigrations(app)
  return {
    label: database?.label,
    async stop() {
      await app.terminate()
      await database?.embedded?.stop()
    },
  }
}
