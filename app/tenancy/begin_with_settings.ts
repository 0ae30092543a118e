import { createRequire } from 'node:module'
import pg from 'pg'
import { PrefixedQuery, preparedName } from '#app/tenancy/prefixed_query'

/**
 * A unit of work used to pay two round trips before its first query can
 * even start: knex's `BEGIN`, then `SELECT set_config(role, tenant, user)`.
 * Now neither travels alone: BEGIN and the settings go with the unit of
 * work's first statement, in one write.
 *
 * knex has no hook for what BEGIN sends, so this wraps two methods of its
 * PostgreSQL transaction class: the one that receives the transaction's
 * options remembers `[ENTER_STATEMENT]`, and `begin()`, instead of sending
 * BEGIN, arms the connection so that its next query carries the entry in
 * front:
 *
 * - a query with values (the usual case, every query builder call): one
 *   extended-protocol sequence — BEGIN, the settings as bind parameters,
 *   the statement — with a single Sync. PostgreSQL skips everything after a
 *   failed message up to the Sync, so the statement never runs without its
 *   role and settings;
 * - a query without values: one simple-query message
 *   `BEGIN; SELECT set_config(…); <text>`, the settings inlined as before
 *   (tenancy.ts builds them from a constant role and validated uuids); the
 *   statements after a failed one do not run either;
 * - a COMMIT or ROLLBACK first (the work ran no query): nothing was begun,
 *   so nothing is sent.
 *
 * Transactions opened without the option are untouched.
 */
export const ENTER_STATEMENT = 'atriumEnterStatement'

/**
 * What tenancy.ts hands a unit of work: the settings, inlined and as values
 * — or null for a platform unit of work (the worker's relay, a platform
 * event's handlers), which keeps its role and has only BEGIN to send ahead.
 */
export type EnterSettings = {
  /** `SELECT set_config(…)` with the values inlined (for the simple-query path). */
  statement: string
  /** The same with `$1`–`$3` for the values below (for the extended-protocol path). */
  boundStatement: string
  /** [role, tenant id, user id] for the bound statement. */
  values: [string, string, string]
} | null

/**
 * The option of a read-only unit of work (tenancy.run's `readOnly`): there
 * is no BEGIN and no COMMIT at all. Every statement carries the settings
 * (which include `transaction_read_only`) in front of it and runs as its own
 * implicit transaction, committed by its own Sync — one round trip a
 * statement, where a transaction costs one more for its COMMIT. See
 * `enterWithEveryQuery`.
 */
export const ENTER_EACH_STATEMENT = 'atriumEnterEachStatement'

/** What a read-only unit of work sends in front of each statement: EnterSettings, never null. */
export type EachStatementSettings = NonNullable<EnterSettings>

/**
 * Transaction options for a unit of work with no role or settings to enter
 * (it runs as the connection's own role): only its BEGIN travels with the
 * first statement.
 */
export function beginWithFirstStatement() {
  // Lucid's options type lists isolationLevel only; knex passes the rest of the object through.
  return { [ENTER_STATEMENT]: null } as unknown as Record<string, never>
}

interface PgTransaction {
  isolationLevel?: string
  readOnly?: boolean
  [ENTER_STATEMENT]?: EnterSettings
  [ENTER_EACH_STATEMENT]?: EachStatementSettings
}
interface PgTransactionPrototype {
  begin(this: PgTransaction, connection: pg.Client): Promise<unknown>
  _evaluateContainer(this: PgTransaction, config: unknown, container: unknown): Promise<unknown>
  acquireConnection(
    this: PgTransaction,
    config: unknown,
    work: (connection: pg.Client) => Promise<unknown>
  ): Promise<unknown>
  [WRAPPED]?: true
}

type Callback = (error: Error | null | undefined, result?: unknown) => void
interface QueryConfig {
  text: string
  values?: unknown[]
  submit?: unknown
}

/** The statement's own result(s) from a simple query that began with the `ahead` statements. */
function afterEntry(results: unknown, ahead: number) {
  const list = results as unknown[]
  return list.length === ahead + 1 ? list[ahead] : list.slice(ahead)
}

/**
 * Arms `connection` so that its next query carries the entry. An own
 * property shadows pg's `query` for exactly one call; it calls pg's
 * prototype method (looked up then, so test spies see it).
 */
function enterWithFirstQuery(connection: pg.Client, begin: string, settings: EnterSettings) {
  const entry = settings ? `${begin}; ${settings.statement}` : begin
  const ahead = settings ? 2 : 1
  const shadowed = connection as unknown as { query?: unknown }
  // Assigned through a local, not as `shadowed.query = function …`: V8 allocates a function
  // literal assigned straight to a property in the old generation, and once dead there it
  // keeps this unit of work alive through every scavenge until a full collection
  // (docs/architecture.md, Memory; bench:uow-gc).
  const queryOnce = function (this: pg.Client, config: QueryConfig | string, ...rest: unknown[]) {
    delete shadowed.query
    const send = pg.Client.prototype.query as (...args: unknown[]) => unknown
    const callback = rest.find((argument) => typeof argument === 'function') as Callback | undefined
    const query = typeof config === 'string' ? { text: config, values: [] } : config
    if (!callback || typeof query.submit === 'function' || typeof query.text !== 'string') {
      // Not how knex queries (a stream, a promise-style call): enter on its own first, and
      // send the query only once that succeeded, so it never runs outside its role.
      const entered = new Promise<void>((resolve, reject) =>
        send.call(this, entry, (error: Error | null) => (error ? reject(error) : resolve()))
      )
      if (typeof query.submit === 'function') {
        const submittable = config as { handleError?(error: Error, connection: unknown): void }
        entered.then(
          () => send.call(this, config, ...rest),
          (error: Error) => submittable.handleError?.(error, this.connection)
        )
        return config
      }
      return entered.then(() => send.call(this, config, ...rest))
    }
    if (/^\s*(COMMIT|ROLLBACK)\b/i.test(query.text)) {
      const command = query.text.trim().split(/\s|;/)[0].toUpperCase()
      process.nextTick(callback, null, { command, rowCount: null, rows: [], fields: [] })
      return undefined
    }
    if (!query.values || query.values.length === 0) {
      return send.call(
        this,
        { ...query, text: `${entry}; ${query.text}` },
        (error: Error | null, results: unknown) =>
          error ? callback(error) : callback(null, afterEntry(results, ahead))
      )
    }
    return send.call(
      this,
      new PrefixedQuery(
        query,
        settings
          ? [
              { text: begin, values: [] },
              {
                text: settings.boundStatement,
                values: settings.values,
                name: preparedName(settings.boundStatement),
              },
            ]
          : [{ text: begin, values: [] }],
        callback
      )
    )
  }
  shadowed.query = queryOnce
}

/** Marks the `query` a read-only unit of work put on its connection, so only that one is removed. */
const EACH_STATEMENT_QUERY = Symbol('atrium.eachStatementQuery')

/** Knex's transaction statements, answered here: a read-only unit of work opens no transaction. */
const ENDS = /^\s*(COMMIT|ROLLBACK)\s*;?\s*$/i
/** Savepoints (a nested trx.transaction()) need a transaction block, which this mode never opens. */
const SAVEPOINTS = /^\s*(SAVEPOINT|RELEASE|ROLLBACK\s+TO)\b/i

/**
 * Arms `connection` for a read-only unit of work until it ends: every query
 * goes out with the settings in front, in one write, as its own implicit
 * transaction (the settings are LOCAL to it and end at its Sync):
 *
 * - with values: the bound settings statement, then the query, one Sync
 *   (as tenancy.read does for a single statement);
 * - without values: one simple-query message `SELECT set_config(…); <text>`,
 *   which PostgreSQL also runs as one implicit transaction.
 *
 * Either way a failure in front stops the statement behind it, and the
 * settings make the transaction read only, so a write or a lock (FOR
 * UPDATE) fails instead of committing on its own. Knex's COMMIT and
 * ROLLBACK have nothing to end and are answered here; a savepoint, a stream
 * or a cursor would need a transaction block or a second message and is
 * refused. The own `query` is removed when the unit of work settles, before
 * knex releases the connection to the pool (see the acquireConnection wrap),
 * so the next borrower never sends anything with these settings.
 */
function enterWithEveryQuery(connection: pg.Client, settings: EachStatementSettings) {
  const shadowed = connection as unknown as { query?: unknown }
  const queryEach = function (this: pg.Client, config: QueryConfig | string, ...rest: unknown[]) {
    const send = pg.Client.prototype.query as (...args: unknown[]) => unknown
    const callback = rest.find((argument) => typeof argument === 'function') as Callback | undefined
    const query = typeof config === 'string' ? { text: config, values: [] } : config
    if (!callback || typeof query.submit === 'function' || typeof query.text !== 'string') {
      throw new Error(
        'A read-only unit of work sends each statement with its settings; a stream or cursor needs tenancy.run without readOnly'
      )
    }
    if (ENDS.test(query.text)) {
      const command = query.text.trim().split(/\s|;/)[0].toUpperCase()
      process.nextTick(callback, null, { command, rowCount: null, rows: [], fields: [] })
      return undefined
    }
    if (SAVEPOINTS.test(query.text)) {
      process.nextTick(
        callback,
        new Error('A read-only unit of work opens no transaction block, so it cannot nest one')
      )
      return undefined
    }
    if (!query.values || query.values.length === 0) {
      return send.call(
        this,
        { ...query, text: `${settings.statement}; ${query.text}` },
        (error: Error | null, results: unknown) =>
          error ? callback(error) : callback(null, afterEntry(results, 1))
      )
    }
    return send.call(
      this,
      new PrefixedQuery(
        query,
        [
          {
            text: settings.boundStatement,
            values: settings.values,
            name: preparedName(settings.boundStatement),
          },
        ],
        callback
      )
    )
  }
  ;(queryEach as unknown as Record<symbol, true>)[EACH_STATEMENT_QUERY] = true
  shadowed.query = queryEach
}

function disarmEveryQuery(connection: pg.Client) {
  const shadowed = connection as unknown as { query?: Record<symbol, unknown> }
  if (Object.hasOwn(shadowed, 'query') && shadowed.query?.[EACH_STATEMENT_QUERY]) {
    delete shadowed.query
  }
}

const WRAPPED = Symbol.for('atrium.beginWithSettings')

// Not part of knex's typed API: the dialect's transaction class, the one place the BEGIN
// text is chosen. tests/integration/tenancy/one_trip_begin.spec.ts proves the wrap holds on
// the installed knex: the entry travels with the first statement, RLS applies to it.
const requireFromKnex = createRequire(import.meta.resolve('knex'))
const prototype = (
  requireFromKnex('./lib/dialects/postgres/execution/pg-transaction.js') as {
    prototype: PgTransactionPrototype
  }
).prototype

if (!prototype[WRAPPED]) {
  const originalEvaluate = prototype._evaluateContainer
  const originalBegin = prototype.begin
  const originalAcquire = prototype.acquireConnection
  prototype._evaluateContainer = function (config, container) {
    const options = config as Record<string, unknown> | undefined
    // null is an entry too: BEGIN alone (beginWithFirstStatement).
    if (options && ENTER_STATEMENT in options && typeof options[ENTER_STATEMENT] === 'object')
      this[ENTER_STATEMENT] = options[ENTER_STATEMENT] as EnterSettings
    const each = options?.[ENTER_EACH_STATEMENT]
    if (each && typeof each === 'object') this[ENTER_EACH_STATEMENT] = each as EachStatementSettings
    return originalEvaluate.call(this, config, container)
  }
  // Knex releases the connection in this method's finally, after `work` settled: disarming
  // when `work` settles is before any other borrower can have it.
  prototype.acquireConnection = function (config, work) {
    if (this[ENTER_EACH_STATEMENT] === undefined) return originalAcquire.call(this, config, work)
    return originalAcquire.call(this, config, (connection) =>
      work(connection).finally(() => disarmEveryQuery(connection))
    )
  }
  prototype.begin = function (connection) {
    const each = this[ENTER_EACH_STATEMENT]
    if (each !== undefined) {
      if (this.isolationLevel) {
        return Promise.reject(
          new Error('A read-only unit of work runs each statement on its own: no isolation level')
        )
      }
      enterWithEveryQuery(connection, each)
      return Promise.resolve()
    }
    const settings = this[ENTER_STATEMENT]
    if (settings === undefined) return originalBegin.call(this, connection)
    const mode = [
      this.isolationLevel ? `ISOLATION LEVEL ${this.isolationLevel}` : '',
      this.readOnly ? 'READ ONLY' : '',
    ]
      .filter(Boolean)
      .join(' ')
    enterWithFirstQuery(connection, `BEGIN${mode ? ` TRANSACTION ${mode}` : ''}`, settings)
    return Promise.resolve()
  }
  prototype[WRAPPED] = true
}
