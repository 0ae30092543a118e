import 'reflect-metadata'
import { Ignitor, prettyPrintError } from '@adonisjs/core'
import { preboot } from '#app/platform/preboot'
import { runPendingMigrations } from '#app/platform/migrate'
import { gracefulShutdown } from '#app/platform/shutdown'
import { createAtriumHttpServer } from '#app/platform/http_server'
import { tuneV8ForServing } from '#app/platform/v8_tuning'

export interface HttpEntryOptions {
  appRoot: URL
  /** Runs after boot, before the preloads and the router commit (tests add fixture routes here). */
  beforeStart?: () => Promise<unknown>
  /** Runs after migrations, before serving; the lines it returns follow the start-up line (first-start seeding). */
  afterMigrations?: () => Promise<string[]>
}

/**
 * Starts the HTTP server the way `npm start` does: pre-boot (.env, config,
 * database), migrations, serve, one start-up line, graceful shutdown.
 */
export async function startHttpServer({ appRoot, beforeStart, afterMigrations }: HttpEntryOptions) {
  tuneV8ForServing()
  const importer = (filePath: string) => {
    if (filePath.startsWith('./') || filePath.startsWith('../')) {
      return import(new URL(filePath, appRoot).href)
    }
    return import(filePath)
  }

  const { database, createdDotEnv } = await preboot(appRoot, { database: true })
  const notes: string[] = []
  let listening: { host: string; port: number } | undefined

  await new Ignitor(appRoot, { importer })
    .tap((app) => {
      app.booting(async () => {
        await import('#start/env')
      })
      app.booted(async () => {
        const { default: env } = await import('#start/env')
        if (env.get('MIGRATE_ON_START') !== false) {
          await runPendingMigrations(app)
        }
        const emitter = await app.container.make('emitter')
        emitter.on('http:server_ready', ({ host, port }) => {
          listening = { host, port }
        })
      })
      app.starting(async () => {
        // Service modules (db, hash…) are bound in the providers' booted hooks, so work that uses them runs here.
        notes.push(...((await afterMigrations?.()) ?? []))
        await beforeStart?.()
      })
      // ATRIUM_ROLE=all (the default): this process also runs the background worker.
      app.ready(async () => {
        const { default: env } = await import('#start/env')
        // A web-only process wakes the workers by NOTIFY after its commits: the last goes out
        // before the database closes.
        const { relayWakesSent } = await import('#app/messaging/outbox')
        app.terminating(relayWakesSent)
        if ((env.get('ATRIUM_ROLE') ?? 'all') !== 'all') return
        const { MessagingWorker } = await import('#app/messaging/worker')
        const worker = new MessagingWorker({ connectionString: env.get('DATABASE_URL')! })
        await worker.start()
        app.terminating(() => worker.stop())
      })
      const stop = (signal: string) => () =>
        gracefulShutdown(app, database?.embedded ?? null, signal)
      app.listen('SIGTERM', stop('SIGTERM'))
      app.listen('SIGINT', stop('SIGINT'))
    })
    .httpServer()
    .start(createAtriumHttpServer)
    .then(() => {
      // Printed once start() has resolved, ready hooks included: "up" means fully up.
      if (!listening) return
      const { host, port } = listening
      const base = `http://${host === '0.0.0.0' || host === '::' ? 'localhost' : host}:${port}`
      const note = createdDotEnv ? ' · wrote .env with a fresh APP_KEY' : ''
      process.stdout.write(
        `Atrium is up · database: ${database?.label} · API ${base}/api/v1 · docs ${base}/docs${note}\n`
      )
      for (const line of notes) process.stdout.write(`${line}\n`)
    })
    .catch(async (error) => {
      process.exitCode = 1
      if ((error as { code?: string }).code === 'EADDRINUSE') {
        // The commonest start-up failure gets one line naming what to change, not a stack.
        const { address, port } = error as { address?: string; port?: number }
        process.stderr.write(
          `atrium: cannot listen on ${address ?? 'the host'}:${port ?? '?'}: the address is in use (set PORT or HOST)\n`
        )
      } else {
        // Awaited: it prints asynchronously, and process.exit below would cut it off (a start-up
        // failure exited with status 1 and not a word).
        await prettyPrintError(error)
      }
      await database?.embedded?.stop()
      process.exit(1)
    })
}
