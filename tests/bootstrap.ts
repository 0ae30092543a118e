import { assert } from '@japa/assert'
import { apiClient } from '@japa/api-client'
import app from '@adonisjs/core/services/app'
import type { Config } from '@japa/runner/types'
import { pluginAdonisJS } from '@japa/plugin-adonisjs'
import testUtils from '@adonisjs/core/services/test_utils'

import { checkEveryResponseAgainstOpenApi } from '#tests/helpers/openapi'

export const plugins: Config['plugins'] = [assert(), apiClient(), pluginAdonisJS(app)]

checkEveryResponseAgainstOpenApi()

/**
 * Migrations run once per test run against the dedicated test database; the
 * fixture routes (tests/fixtures/routes.ts) exercise kernel middleware and
 * exist only in tests.
 */
export const runnerHooks: Required<Pick<Config, 'setup' | 'teardown'>> = {
  setup: [
    async () => {
      const { runPendingMigrations } = await import('#app/platform/migrate')
      await runPendingMigrations(app)
    },
    async () => {
      await import('#tests/fixtures/routes')
    },
    async () => {
      const { clearTestRedisKeys } = await import('#tests/helpers/redis')
      await clearTestRedisKeys()
    },
  ],
  teardown: [],
}

export const configureSuite: Config['configureSuite'] = (suite) => {
  if (['browser', 'functional', 'e2e', 'integration'].includes(suite.name)) {
    return suite.setup(async () => {
      const { createAtriumHttpServer } = await import('#app/platform/http_server')
      return testUtils.httpServer().start(createAtriumHttpServer)
    })
  }
}
