import env from '#start/env'

/**
 * How long one statement of a unit of work may run, wait for a row lock, or
 * how long its transaction may sit open between statements.
 *
 * Without them a request waits as long as whatever holds the row it wants:
 * one stuck transaction (a bug awaiting something that never comes, a psql
 * session left open on a row) used to hang every request behind it and then
 * the whole pool. With them the request fails fast, its transaction rolls
 * back, and the client gets a 503 with Retry-After (app/http/database_refusals.ts).
 *
 * Set per transaction (`set_config(…, true)`), with the role and tenant that
 * every unit of work enters already: the pool's connections keep PostgreSQL's
 * defaults, so migrations, maintenance and the worker's own platform
 * transactions are unaffected. 0 turns a limit off, as in PostgreSQL.
 */
export interface UnitOfWorkLimits {
  statementTimeoutMs: number
  lockTimeoutMs: number
  idleInTransactionTimeoutMs: number
}

/** Read at boot; tests may lower them for one test and must restore them. */
export const unitOfWorkLimits: UnitOfWorkLimits = {
  statementTimeoutMs: env.get('DB_STATEMENT_TIMEOUT_MS') ?? 30_000,
  lockTimeoutMs: env.get('DB_LOCK_TIMEOUT_MS') ?? 10_000,
  idleInTransactionTimeoutMs: env.get('DB_IDLE_IN_TRANSACTION_TIMEOUT_MS') ?? 60_000,
}

let cachedFor: UnitOfWorkLimits = {
  statementTimeoutMs: -1,
  lockTimeoutMs: -1,
  idleInTransactionTimeoutMs: -1,
}
let cachedSql = ''
const withBases = new Map<string, string>()

/**
 * `, set_config('statement_timeout', '30000', true), …` — to follow the
 * settings of a unit of work's entry statement. The values are inlined: they
 * are integers checked here, never caller input, and inlining keeps each
 * entry statement's bind parameters what they were. Built again only when a
 * limit changed (every unit of work asks).
 */
export function limitsSql(): string {
  const { statementTimeoutMs, lockTimeoutMs, idleInTransactionTimeoutMs } = unitOfWorkLimits
  if (
    statementTimeoutMs === cachedFor.statementTimeoutMs &&
    lockTimeoutMs === cachedFor.lockTimeoutMs &&
    idleInTransactionTimeoutMs === cachedFor.idleInTransactionTimeoutMs
  ) {
    return cachedSql
  }
  const settings = {
    statement_timeout: statementTimeoutMs,
    lock_timeout: lockTimeoutMs,
    idle_in_transaction_session_timeout: idleInTransactionTimeoutMs,
  }
  cachedSql = Object.entries(settings)
    .map(([name, milliseconds]) => {
      if (!Number.isSafeInteger(milliseconds) || milliseconds < 0) {
        throw new Error(`${name} must be a whole number of milliseconds ≥ 0, got ${milliseconds}`)
      }
      return `, set_config('${name}', '${milliseconds}', true)`
    })
    .join('')
  cachedFor = { statementTimeoutMs, lockTimeoutMs, idleInTransactionTimeoutMs }
  withBases.clear()
  return cachedSql
}

/** `base` (a constant settings statement) followed by the limits, the same string each call. */
export function withLimits(base: string): string {
  const limits = limitsSql()
  let text = withBases.get(base)
  if (text === undefined) {
    text = base + limits
    withBases.set(base, text)
  }
  return text
}
