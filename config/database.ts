import type { ClientConfig } from 'pg'
import env from '#start/env'
import app from '@adonisjs/core/services/app'
import { defineConfig } from '@adonisjs/lucid'
import { migrationPaths } from '#start/module_names'
import { socketOutsideRequests } from '#app/platform/outside_requests'

/**
 * Passed by knex to pg as it is. Each pooled connection's socket opens outside
 * the request that needed it: opened inside, it would keep that request's
 * context alive for the connection's whole life (app/platform/outside_requests.ts).
 * Lucid's type for it lists no `stream`, hence pg's own type here.
 */
const postgresConnection = {
  connectionString: env.get('DATABASE_URL'),
  stream: socketOutsideRequests,
} satisfies ClientConfig

const dbConfig = defineConfig({
  connection: 'postgres',
  connections: {
    postgres: {
      client: 'pg',
      // bin/ entrypoints resolve the embedded or test database and set DATABASE_URL before boot.
      connection: postgresConnection,
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
