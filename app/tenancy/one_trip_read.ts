import db from '@adonisjs/lucid/services/db'
import type pg from 'pg'
import type { QueryResult, QueryResultRow } from 'pg'
import { APP_ROLE } from '#app/tenancy/sql'
import { PrefixedQuery, preparedName, type Statement } from '#app/tenancy/prefixed_query'

export { preparedName } from '#app/tenancy/prefixed_query'
import { withLimits } from '#app/tenancy/limits'

/**
 * A read under row-level security in one round trip.
 *
 * A unit of work (tenancy.run) costs two for one read: the query (BEGIN,
 * role and settings riding in front of it), then COMMIT — each a write and a
 * wake-up on both sides, which profiles of authenticated reads show as their
 * largest cost. Messages up to a Sync run in one implicit transaction, so a
 * single statement needs no COMMIT of its own; this sends
 *
 *   Parse/Bind/Describe/Execute  SELECT set_config(role, tenant, user, read only, limits)
 *   Parse/Bind/Describe/Execute  the caller's statement
 *   Sync                         (commits; the settings were LOCAL and end here)
 *
 * as one write. It is as safe as the transaction it replaces: when anything
 * fails, PostgreSQL skips every message up to the Sync, so the statement can
 * never run without the role and settings; the transaction is read only, so
 * it cannot write either; values travel as bind parameters, never as text.
 *
 * node-postgres sends one Sync per query, so this is its Query with the
 * settings statement put in front (prefixed_query.ts).
 */
const SETTINGS_STATEMENT =
  `SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true), ` +
  `set_config('app.user_id', $3, true), set_config('transaction_read_only', 'on', true)`

export interface ReadScope {
  /** The tenant whose rows are visible; absent: no tenant's (as tenancy.runAsUser). */
  tenantId?: string
  /** The acting user, for policies that show users their own rows. */
  userId?: string
}

/**
 * Runs one read-only statement (`$1`… placeholders) as the app role with
 * the scope's settings, in one round trip; returns its rows. The scope's ids
 * must be validated uuids (tenancy.read checks them).
 */
export async function oneTripRead<Row extends QueryResultRow>(
  scope: ReadScope,
  text: string,
  values: unknown[] = [],
  // Only tests pass another: a role that does not exist proves a failure in front stops the statement.
  role = APP_ROLE,
  options: { prepared?: boolean } = {}
): Promise<Row[]> {
  const statement = options.prepared ? { text, values, name: preparedName(text) } : { text, values }
  const [result] = await oneTrip(withLimits(SETTINGS_STATEMENT), scope, [statement], role, 'read')
  return result.rows as Row[]
}

/** The settings of a one-trip write: those of a read, without read only. */
const WRITE_SETTINGS_STATEMENT =
  `SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true), ` +
  `set_config('app.user_id', $3, true)`

/**
 * Runs statements (`$1`… placeholders each) as the app role with the scope's
 * settings, in order, as one transaction in one round trip; returns each
 * statement's result. The same protocol as a read: the settings first, then
 * the statements, then one Sync, which commits. When one fails, PostgreSQL
 * skips the rest and rolls all of them back, and the promise rejects with its
 * error. Nothing can be decided between them in JavaScript, so a statement
 * that depends on an earlier one says so in SQL (a WHERE EXISTS on what the
 * earlier one wrote, which it sees: one transaction).
 */
export function oneTripWrite(
  scope: ReadScope,
  statements: Statement[],
  role = APP_ROLE
): Promise<QueryResult[]> {
  return oneTrip(withLimits(WRITE_SETTINGS_STATEMENT), scope, statements, role, 'write')
}

async function oneTrip(
  settings: string,
  scope: ReadScope,
  statements: Statement[],
  role: string,
  kind: 'read' | 'write'
): Promise<QueryResult[]> {
  if (statements.length === 0) return []
  // Lucid's connection is knex's; knex hands out the pool's node-postgres clients.
  const connection = db.connection()
  const knexClient = (kind === 'read' ? connection.getReadClient() : connection.getWriteClient())
    .client as unknown as {
    acquireConnection(): Promise<pg.Client>
    releaseConnection(connection: pg.Client): Promise<void>
  }
  const pgClient = await knexClient.acquireConnection()
  try {
    const prefix = [
      // Prepared per connection: the same text for every read (or write) while the limits hold.
      {
        text: settings,
        values: [role, scope.tenantId ?? '', scope.userId ?? ''],
        name: preparedName(settings),
      },
      ...statements.slice(0, -1),
    ]
    const answer = await new Promise<unknown>((resolve, reject) => {
      pgClient.query(
        new PrefixedQuery(
          statements.at(-1)!,
          prefix,
          (error, result) => (error ? reject(error) : resolve(result)),
          // Every result but the settings'.
          1
        )
      )
    })
    return (statements.length === 1 ? [answer] : answer) as QueryResult[]
  } finally {
    await knexClient.releaseConnection(pgClient)
  }
}
