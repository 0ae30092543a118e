import db from '@adonisjs/lucid/services/db'
import type pg from 'pg'
import type { QueryResult, QueryResultRow } from 'pg'
import { APP_ROLE } from '#app/tenancy/sql'
import { PrefixedQuery } from '#app/tenancy/prefixed_query'

/**
 * A read under row-level security in one round trip.
 *
 * A unit of work (tenancy.run) costs two for one read: the query (BEGIN,
 * role and settings riding in front of it), then COMMIT — each a write and a
 * wake-up on both sides, which profiles of authenticated reads show as their
 * largest cost. Messages up to a Sync run in one implicit transaction, so a
 * single statement needs no COMMIT of its own; this sends
 *
 *   Parse/Bind/Describe/Execute  SELECT set_config(role, tenant, user, read only)
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
  role = APP_ROLE
): Promise<Row[]> {
  // Lucid's connection is knex's; knex hands out the pool's node-postgres clients.
  const knexClient = db.connection().getReadClient().client as unknown as {
    acquireConnection(): Promise<pg.Client>
    releaseConnection(connection: pg.Client): Promise<void>
  }
  const connection = await knexClient.acquireConnection()
  try {
    const result = await new Promise<QueryResult<Row>>((resolve, reject) => {
      connection.query(
        new PrefixedQuery(
          { text, values },
          [{ text: SETTINGS_STATEMENT, values: [role, scope.tenantId ?? '', scope.userId ?? ''] }],
          (error, answer) => (error ? reject(error) : resolve(answer as QueryResult<Row>))
        )
      )
    })
    return result.rows
  } finally {
    await knexClient.releaseConnection(connection)
  }
}
