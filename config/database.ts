import env from '#start/env'
import app from '@adonisjs/core/services/app'
import { defineConfig } from '@adonisjs/lucid'
import { migrationPaths } from '#start/module_names'

const dbConfig = defineConfig({
  connection: 'postgres',
  connections: {
    postgres: {
      client: 'pg',
      // bin/ entrypoints resolve the embedded or test database and set DATABASE_URL before boot.
      connection: { connectionString: env.get('DATABASE_URL') },
      // One connection stays open: an idle worker's loops look for work about once a minute,
      // and with none kept each look made PostgreSQL fork a backend for a query or two.
      pool: { min: 1, max: env.get('NODE_ENV') === 'test' ? 10 : 20 },
      migrations: {
        naturalSort: true,
        paths: ['database/migrations', ...migrationPaths()],
      },
      seeders: { paths: ['database/seeders'] },
      schemaGeneration: { enabled: !app.inProduction },
      debug: false,
    },
  },
})

export default dbConfig
