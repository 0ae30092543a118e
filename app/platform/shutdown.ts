import type { ApplicationService } from '@adonisjs/core/types'
import type { EmbeddedPostgres } from '#app/platform/embedded_postgres'

const FORCE_EXIT_AFTER_MS = 15_000

let stopping: Promise<void> | undefined

/**
 * Stops accepting, lets in-flight requests finish (app.terminate closes the
 * HTTP server and the providers), and only then stops the embedded database;
 * then says so in one line. Idempotent: a terminal's Ctrl-C reaches both npm
 * and Node, and npm passes its SIGINT on, so one stop often arrives twice.
 */
export function gracefulShutdown(
  app: ApplicationService,
  embedded: EmbeddedPostgres | null,
  signal: string
) {
  stopping ??= shutDown(app, embedded, signal)
  return stopping
}

async function shutDown(
  app: ApplicationService,
  embedded: EmbeddedPostgres | null,
  signal: string
) {
  const started = performance.now()
  setTimeout(() => {
    process.stderr.write('atrium: shutdown took too long; exiting\n')
    process.exit(1)
  }, FORCE_EXIT_AFTER_MS).unref()

  // server.close() drops only the connections idle at that moment; a keep-alive
  // connection whose request finishes later would hold shutdown for its timeout.
  const httpServer = app.isReady ? await app.container.make('server') : undefined
  const nodeServer = httpServer?.getNodeServer()
  const reaper = setInterval(() => nodeServer?.closeIdleConnections?.(), 50)
  try {
    await app.terminate()
  } catch (error) {
    // Typically closing connections to a database that is already gone: the
    // requests have drained, so shutdown goes on; the error is still shown.
    process.stderr.write(`atrium: error while shutting down: ${(error as Error).message}\n`)
  } finally {
    clearInterval(reaper)
  }
  try {
    await embedded?.stop()
  } catch (error) {
    process.stderr.write(
      `atrium: could not stop the embedded PostgreSQL: ${(error as Error).message}\n`
    )
    process.exitCode = 1
  }
  // The one line an operator sees for a stop, as "Atrium is up" is for a start;
  // and the same as a log record, for whoever reads the logs rather than the terminal.
  const took = Math.round(performance.now() - started)
  const database = embedded ? ' and the embedded PostgreSQL' : ''
  if (app.isBooted) {
    const logger = await app.container.make('logger')
    logger.info({ signal, drainedMs: took }, 'stopped')
    // Out before the line below, which stays the last the terminal shows.
    await new Promise<void>((resolve) => logger.pino.flush(() => resolve()))
  }
  process.stdout.write(`Atrium stopped (${signal}) · requests drained${database} in ${took} ms\n`)
}
