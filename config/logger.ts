import env from '#start/env'
import app from '@adonisjs/core/services/app'
import { defineConfig, targets } from '@adonisjs/core/logger'
import { boundedLogStream, LOG_REDACTION } from '#app/platform/log_stream'

/**
 * JSON lines on stdout are written from this thread, without a transport:
 * pino's transports run in a worker thread — a second V8 isolate that holds
 * ~14 MiB for as long as the process lives (issue #12's idle figure) to move
 * a write(2) off the event loop. An asynchronous sonic-boom does that write
 * without blocking too, and pino flushes it synchronously on exit.
 * Pretty printing (a developer's terminal) and the test log file still use
 * transports, where a worker costs nothing that matters.
 */
const writesJsonToStdout = !app.inTest && (app.inProduction || !process.stdout.isTTY)

const loggerConfig = defineConfig({
  default: 'app',
  loggers: {
    app: {
      enabled: true,
      name: 'atrium',
      level: env.get('LOG_LEVEL'),
      // JSON lines; pretty only on a developer's terminal. Tests log to a file they can read back.
      ...(writesJsonToStdout
        ? { destination: boundedLogStream({ fd: 1 }) }
        : {
            transport: {
              targets: targets()
                .pushIf(!app.inTest, targets.pretty())
                .pushIf(
                  app.inTest,
                  targets.file({ destination: app.tmpPath('logs/test.log'), mkdir: true })
                )
                .toArray(),
            },
          }),
      redact: LOG_REDACTION,
    },
  },
})

export default loggerConfig

declare module '@adonisjs/core/types' {
  export interface LoggersList extends InferLoggers<typeof loggerConfig> {}
}
