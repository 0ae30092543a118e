import env from '#start/env'
import app from '@adonisjs/core/services/app'
import { defineConfig, targets } from '@adonisjs/core/logger'

const loggerConfig = defineConfig({
  default: 'app',
  loggers: {
    app: {
      enabled: true,
      name: 'atrium',
      level: env.get('LOG_LEVEL'),
      // JSON lines; pretty only on a developer's terminal. Tests log to a file they can read back.
      transport: {
        targets: targets()
          .pushIf(!app.inProduction && !app.inTest && process.stdout.isTTY, targets.pretty())
          .pushIf(
            app.inTest,
            targets.file({ destination: app.tmpPath('logs/test.log'), mkdir: true })
          )
          .pushIf(
            !app.inTest && (app.inProduction || !process.stdout.isTTY),
            targets.file({ destination: 1 })
          )
          .toArray(),
      },
      redact: {
        paths: [
          'password',
          '*.password',
          'headers.authorization',
          'headers.cookie',
          '*.apiKey',
          '*.secret',
        ],
        censor: '[redacted]',
      },
    },
  },
})

export default loggerConfig

declare module '@adonisjs/core/types' {
  export interface LoggersList extends InferLoggers<typeof loggerConfig> {}
}
