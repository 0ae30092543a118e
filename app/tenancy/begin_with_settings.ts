import { createRequire } from 'node:module'

/**
 * Every unit of work used to pay two round trips before its first query:
 * knex's `BEGIN`, then `SELECT set_config(role, tenant, user)`. PostgreSQL
 * runs a simple-query message holding several statements in order, so both
 * can travel together — `BEGIN; SELECT set_config(…)`, one round trip.
 *
 * knex has no hook for what BEGIN sends, so this wraps two methods of its
 * PostgreSQL transaction class: the one that receives the transaction's
 * options remembers `[ENTER_STATEMENT]`, and `begin()` sends it with BEGIN.
 * Transactions opened without that option are untouched. The statement is
 * built by tenancy.ts from a constant role and uuids it has validated —
 * never from caller text — because a simple query carries no bind parameters.
 */
export const ENTER_STATEMENT = 'atriumEnterStatement'

interface PgTransaction {
  isolationLevel?: string
  readOnly?: boolean
  query(connection: unknown, sql: string): Promise<unknown>
  [ENTER_STATEMENT]?: string
}
interface PgTransactionPrototype {
  begin(this: PgTransaction, connection: unknown): Promise<unknown>
  _evaluateContainer(this: PgTransaction, config: unknown, container: unknown): Promise<unknown>
  [WRAPPED]?: true
}

const WRAPPED = Symbol.for('atrium.beginWithSettings')

// Not part of knex's typed API: the dialect's transaction class, the one place the BEGIN
// text is chosen. tests/integration/tenancy/one_trip_begin.spec.ts proves the wrap holds on
// the installed knex: one message for BEGIN and settings, RLS applying from the first query.
const requireFromKnex = createRequire(import.meta.resolve('knex'))
const prototype = (
  requireFromKnex('./lib/dialects/postgres/execution/pg-transaction.js') as {
    prototype: PgTransactionPrototype
  }
).prototype

if (!prototype[WRAPPED]) {
  const originalEvaluate = prototype._evaluateContainer
  const originalBegin = prototype.begin
  prototype._evaluateContainer = function (config, container) {
    const statement = (config as Record<string, unknown> | undefined)?.[ENTER_STATEMENT]
    if (typeof statement === 'string') this[ENTER_STATEMENT] = statement
    return originalEvaluate.call(this, config, container)
  }
  prototype.begin = function (connection) {
    const statement = this[ENTER_STATEMENT]
    if (statement === undefined) return originalBegin.call(this, connection)
    const mode = [
      this.isolationLevel ? `ISOLATION LEVEL ${this.isolationLevel}` : '',
      this.readOnly ? 'READ ONLY' : '',
    ]
      .filter(Boolean)
      .join(' ')
    return this.query(connection, `BEGIN${mode ? ` TRANSACTION ${mode}` : ''}; ${statement}`)
  }
  prototype[WRAPPED] = true
}
