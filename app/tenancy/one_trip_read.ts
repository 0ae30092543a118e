import pg from 'pg'
import db from '@adonisjs/lucid/services/db'
import type { QueryResult, QueryResultRow } from 'pg'
import { APP_ROLE } from '#app/tenancy/sql'

/**
 * A read under row-level security in one round trip.
 *
 * A unit of work (tenancy.run) costs three: BEGIN with the role and
 * settings, the query, COMMIT — each a write and a wake-up on both sides,
 * which profiles of authenticated reads show as their largest cost. The
 * extended query protocol can do the same in one: messages up to a Sync run
 * in one implicit transaction, so this sends
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
 * settings statement put in front; its results (settings, then the
 * statement's) come back as one multi-result answer.
 */
const SETTINGS_STATEMENT =
  `SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true), ` +
  `set_config('app.user_id', $3, true), set_config('transaction_read_only', 'on', true)`

interface PreparedConnection {
  parse(message: { text: string; name?: string; types?: unknown[] }): void
  bind(message: { portal?: string; statement?: string; values: unknown[] }): void
  describe(message: { type: 'P'; name: string }): void
  execute(message: { portal?: string; rows?: number }): void
}

class SettledQuery<Row extends QueryResultRow> extends pg.Query<Row> {
  constructor(
    text: string,
    values: unknown[],
    private settings: [string, string, string],
    callback: (error: Error | undefined, answer: unknown) => void
  ) {
    // @types/pg types the answer as one result; with two statements pg passes an array.
    super(text, values, callback as never)
  }

  // Always the extended protocol, even without values: the settings statement rides in front.
  requiresPreparation() {
    return true
  }

  prepare(connection: PreparedConnection) {
    connection.parse({ text: SETTINGS_STATEMENT })
    connection.bind({ values: this.settings })
    connection.describe({ type: 'P', name: '' })
    connection.execute({})
    // pg's own prepare: the statement, then the Sync that ends the transaction.
    ;(pg.Query.prototype as unknown as { prepare(c: PreparedConnection): void }).prepare.call(
      this,
      connection
    )
  }
}

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
    const results = await new Promise<QueryResult<Row>[] | QueryResult<Row>>((resolve, reject) => {
      connection.query(
        new SettledQuery<Row>(
          text,
          values,
          [role, scope.tenantId ?? '', scope.userId ?? ''],
          (error, answer) =>
            error ? reject(error) : resolve(answer as QueryResult<Row>[] | QueryResult<Row>)
        )
      )
    })
    // [settings, statement]: anything else means the statement did not run as sent.
    if (!Array.isArray(results) || results.length !== 2) {
      throw new Error('oneTripRead: expected the settings and one statement’s results')
    }
    return results[1].rows
  } finally {
    await knexClient.releaseConnection(connection)
  }
}
