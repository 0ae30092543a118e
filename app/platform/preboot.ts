import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ensureDotEnv } from '#app/platform/dotenv'
import {
  EMBEDDED_DEFAULT_PORT,
  resolveDatabase,
  type DatabaseTarget,
} from '#app/platform/database_target'

export interface Preboot {
  database: DatabaseTarget | null
  createdDotEnv: boolean
}

/**
 * Runs before AdonisJS boots: writes .env on a fresh clone, validates the
 * environment (a bad value exits with one line naming it), and resolves the
 * database — starting the embedded one when DATABASE_URL is unset.
 */
export async function preboot(
  appRoot: URL,
  options: { database: boolean; forTests?: boolean }
): Promise<Preboot> {
  const createdDotEnv = await ensureDotEnv(appRoot)
  const env = await loadEnv()
  if (!options.database) return { database: null, createdDotEnv }

  try {
    const database = await resolveDatabase({
      databaseUrl: env.get('DATABASE_URL'),
      embeddedDataDir: resolve(
        fileURLToPath(appRoot),
        env.get('EMBEDDED_PG_DATA') ?? 'storage/postgres/data'
      ),
      embeddedPort: env.get('EMBEDDED_PG_PORT') ?? EMBEDDED_DEFAULT_PORT,
      forTests: options.forTests ?? false,
    })
    env.set('DATABASE_URL', database.url)
    return { database, createdDotEnv }
  } catch (error) {
    exitWithOneLine(`cannot reach the database: ${(error as Error).message.split('\n')[0]}`)
  }
}

async function loadEnv() {
  try {
    const { default: env } = await import('#start/env')
    return env
  } catch (error) {
    const { code, help, message } = error as { code?: string; help?: string; message?: string }
    if (code === 'E_INVALID_ENV_VARIABLES') {
      const problems = (help ?? '')
        .split('\n')
        .map((line) => line.replace(/^-\s*/, '').trim())
        .filter(Boolean)
      exitWithOneLine(`invalid configuration: ${problems.join('; ') || message}`)
    }
    throw error
  }
}

function exitWithOneLine(text: string): never {
  process.stderr.write(`atrium: ${text}\n`)
  process.exit(1)
}
