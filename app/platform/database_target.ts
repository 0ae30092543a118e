import { relative } from 'node:path'
import pg from 'pg'
import { EmbeddedPostgres } from './embedded_postgres.js'

export interface DatabaseTarget {
  url: string
  /** For the start-up line: where the data lives, without credentials. */
  label: string
  embedded: EmbeddedPostgres | null
}

export const EMBEDDED_DEFAULT_PORT = 25432

/**
 * Decides which PostgreSQL the process uses: DATABASE_URL when set, otherwise
 * the embedded server under storage/. Tests get their own database
 * (`<name>_test`). The database is created when missing, so a fresh clone or a
 * fresh server needs no manual step.
 */
export async function resolveDatabase(options: {
  databaseUrl: string | undefined
  embeddedDataDir: string
  embeddedPort: number
  forTests: boolean
}): Promise<DatabaseTarget> {
  let embedded: EmbeddedPostgres | null = null
  let url: URL
  if (options.databaseUrl) {
    url = new URL(options.databaseUrl)
  } else {
    embedded = new EmbeddedPostgres({
      dataDir: options.embeddedDataDir,
      port: options.embeddedPort,
    })
    await embedded.ensureRunning()
    url = new URL(embedded.url)
    url.pathname = '/atrium'
  }

  const baseName = decodeURIComponent(url.pathname.slice(1)) || 'atrium'
  const name = options.forTests && !baseName.endsWith('_test') ? `${baseName}_test` : baseName
  url.pathname = `/${encodeURIComponent(name)}`
  await createDatabaseIfMissing(url)

  const where = `${url.hostname}:${url.port || 5432}/${name}`
  if (!embedded) await probe(url, where)
  // Inside the project: the short relative path; elsewhere: the absolute one.
  const inside = relative(process.cwd(), options.embeddedDataDir)
  const shownDir = inside && !inside.startsWith('..') ? inside : options.embeddedDataDir
  const label = embedded ? `embedded PostgreSQL (${shownDir}, ${where})` : `PostgreSQL at ${where}`
  return { url: url.toString(), label, embedded }
}

/**
 * Connects once before anything else does, so an unreachable or refusing
 * DATABASE_URL stops start-up with one line naming it (and never its password)
 * instead of a stack trace from the first migration.
 */
async function probe(target: URL, where: string) {
  const client = new pg.Client({
    connectionString: target.toString(),
    connectionTimeoutMillis: 5000,
  })
  try {
    await client.connect()
    await client.query('SELECT 1')
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string }
    const reason =
      code === 'ECONNREFUSED'
        ? 'the connection was refused'
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? 'the host name does not resolve'
          : code === '28P01' || code === '28000'
            ? 'the user or password was refused'
            : /timeout/i.test(message ?? '')
              ? 'no answer within 5 s'
              : (code ?? message?.split('\n')[0] ?? 'unknown error')
    throw new Error(`DATABASE_URL (${where}): ${reason}`)
  } finally {
    await client.end().catch(() => {})
  }
}

async function createDatabaseIfMissing(target: URL) {
  const name = decodeURIComponent(target.pathname.slice(1))
  const maintenance = new URL(target)
  maintenance.pathname = '/postgres'
  const client = new pg.Client({
    connectionString: maintenance.toString(),
    connectionTimeoutMillis: 5000,
  })
  try {
    await client.connect()
  } catch {
    // No maintenance database we may use: assume the target exists; the first real query says if not.
    return
  }
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
    if (found.rowCount === 0) {
      await client
        .query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`)
        .catch((error: { code?: string }) => {
          // 42P04: another process created it first.
          if (error.code !== '42P04') throw error
        })
    }
  } finally {
    await client.end()
  }
}
