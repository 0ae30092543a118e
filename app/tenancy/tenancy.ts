import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { APP_ROLE } from '#app/tenancy/sql'
import { isUuid } from '#app/platform/ids'
import {
  ENTER_EACH_STATEMENT,
  ENTER_STATEMENT,
  type EnterSettings,
} from '#app/tenancy/begin_with_settings'
import { limitsSql, withLimits } from '#app/tenancy/limits'
import { oneTripRead, oneTripWrite, type ReadScope } from '#app/tenancy/one_trip_read'
import type { Statement } from '#app/tenancy/prefixed_query'

export interface UnitOfWorkOptions {
  /** The acting user, for policies that let users see their own rows across tenants. */
  userId?: string
  isolationLevel?: 'read committed' | 'repeatable read' | 'serializable'
  /**
   * The work only reads. Then it opens no transaction: each statement runs on
   * its own, read only, with the role and settings in front of it, in one
   * round trip — no COMMIT to wait for. A read of one statement costs one
   * round trip instead of two; GET /tenants/:id's membership check and read,
   * two instead of three. What the work sees is what it would see in a
   * READ COMMITTED transaction, where each statement takes its own snapshot
   * too. A write, a lock (FOR UPDATE/SHARE) or a nested transaction fails;
   * so does an isolation level, which needs one transaction around the
   * statements. (PostgreSQL lets a read-only transaction NOTIFY: one would go
   * out at once, not at the end — announce changes from the work that made them.)
   */
  readOnly?: boolean
}

/**
 * The one way to touch tenant data (DESIGN.md §4): a short transaction that
 * runs as the app role with `app.tenant_id` set, so row-level security
 * decides what every query — including raw SQL — can see and write.
 * Pass `trx` to every query inside; keep network calls (LLMs, webhooks) out.
 */
export async function runInTenant<T>(
  tenantId: string,
  work: (trx: TransactionClientContract) => Promise<T>,
  options: UnitOfWorkOptions = {}
): Promise<T> {
  if (!isUuid(tenantId))
    throw new Error(`tenancy.run needs a tenant uuid, got ${JSON.stringify(tenantId)}`)
  if (options.userId !== undefined && !isUuid(options.userId)) {
    throw new Error(`tenancy.run needs a user uuid, got ${JSON.stringify(options.userId)}`)
  }
  if (options.readOnly && options.isolationLevel) {
    throw new Error('tenancy.run: a read-only unit of work has no transaction to isolate')
  }
  return db.transaction(work, {
    isolationLevel: options.isolationLevel,
    ...enterWithBegin({ tenantId, userId: options.userId }, options.readOnly),
  })
}

/**
 * A unit of work with no tenant: the app role sees no tenant rows at all,
 * only rows a policy opens to the acting user (e.g. their memberships).
 */
export async function runAsUser<T>(
  userId: string,
  work: (trx: TransactionClientContract) => Promise<T>,
  options: Pick<UnitOfWorkOptions, 'readOnly'> = {}
) {
  if (!isUuid(userId)) throw new Error(`runAsUser needs a user uuid, got ${JSON.stringify(userId)}`)
  return db.transaction(work, enterWithBegin({ userId }, options.readOnly))
}

/**
 * Transaction options whose BEGIN and settings travel with the unit of
 * work's first statement (begin_with_settings.ts): no round trip of their
 * own. Bound as values when that statement has values; inlined for one that
 * has none (a multi-statement message cannot carry parameters) — safe
 * because the role is a constant and both ids passed isUuid() above.
 */
const ENTER_BOUND =
  `SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true), ` +
  `set_config('app.user_id', $3, true)`
/** The same for a read-only unit of work, whose every statement is its own transaction. */
const READ_ONLY = `, set_config('transaction_read_only', 'on', true)`
const ENTER_BOUND_READ_ONLY = ENTER_BOUND + READ_ONLY

function enterWithBegin(settings: { tenantId?: string; userId?: string }, readOnly = false) {
  const tenantId = settings.tenantId ?? ''
  const userId = settings.userId ?? ''
  const limits = limitsSql()
  const entry: EnterSettings = {
    statement:
      `SELECT set_config('role', '${APP_ROLE}', true), ` +
      `set_config('app.tenant_id', '${tenantId}', true), ` +
      `set_config('app.user_id', '${userId}', true)${readOnly ? READ_ONLY : ''}${limits}`,
    boundStatement: withLimits(readOnly ? ENTER_BOUND_READ_ONLY : ENTER_BOUND),
    values: [APP_ROLE, tenantId, userId],
  }
  // Lucid's options type lists isolationLevel only; knex passes the rest of the object through.
  return { [readOnly ? ENTER_EACH_STATEMENT : ENTER_STATEMENT]: entry } as unknown as Record<
    string,
    never
  >
}

async function enterAppRole(
  trx: TransactionClientContract,
  settings: { tenantId?: string; userId?: string }
) {
  // One round trip: set_config('role', …, true) is SET LOCAL ROLE (same permission check).
  await trx.rawQuery(
    `SELECT set_config('role', ?, true), set_config('app.tenant_id', ?, true), set_config('app.user_id', ?, true)${limitsSql()}`,
    [APP_ROLE, settings.tenantId ?? '', settings.userId ?? '']
  )
}

/**
 * One read-only statement under row-level security in one round trip
 * (one_trip_read.ts) — for hot reads that need a single statement; several
 * statements or any write still go through `run`/`runAsUser`.
 */
export async function readWithin<Row extends Record<string, unknown>>(
  scope: ReadScope,
  sql: string,
  values: unknown[] = [],
  options: ReadOptions = {}
): Promise<Row[]> {
  for (const id of [scope.tenantId, scope.userId]) {
    if (id !== undefined && !isUuid(id)) {
      throw new Error(`tenancy.read needs uuids, got ${JSON.stringify(id)}`)
    }
  }
  return oneTripRead<Row>(scope, sql, values, APP_ROLE, options)
}

export interface ReadOptions {
  /**
   * Prepare the statement on each connection (parse and plan once, then only
   * bind and run): for a hot read whose text is a constant. Planning is most
   * of what PostgreSQL spends on a small read — GET /auth/me's statement runs
   * 2.7× as often per second on one connection prepared as not. Name columns
   * rather than `*`: a column added while a process runs would change a
   * prepared statement's result type, which PostgreSQL refuses.
   */
  prepared?: boolean
}

/** Deadlock, serialization failure: PostgreSQL rolled the transaction back so another could go on. */
const GAVE_WAY = new Set(['40P01', '40001'])
const WRITE_ATTEMPTS = 3

/**
 * Statements under row-level security as one transaction in one round trip
 * (one_trip_read.ts, `oneTripWrite`) — for a hot write whose statements need
 * no decision in between; a write that reads and decides goes through `run`.
 *
 * A sequence that PostgreSQL chose to give way in a deadlock is sent again
 * (up to three attempts, after a short random pause): it is nothing but SQL,
 * rolled back whole, with no effect outside the database to repeat — its
 * NOTIFYs too are only delivered on commit. A unit of work (`run`) is not
 * retried: its callback may have done things a second run would do twice.
 */
export async function writeWithin(
  scope: ReadScope & { tenantId: string },
  statements: Statement[]
) {
  for (const id of [scope.tenantId, scope.userId]) {
    if (id !== undefined && !isUuid(id)) {
      throw new Error(`tenancy.write needs uuids, got ${JSON.stringify(id)}`)
    }
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await oneTripWrite(scope, statements)
    } catch (error) {
      const sqlState = (error as { code?: string }).code
      if (attempt >= WRITE_ATTEMPTS || !sqlState || !GAVE_WAY.has(sqlState)) throw error
      logger.info(
        { sqlState, attempt },
        'tenancy.write gave way to a concurrent transaction; retrying'
      )
      // Apart, so that the transactions that collided do not collide again in step.
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt))
    }
  }
}

export const tenancy = {
  run: runInTenant,
  runAsUser,
  read: readWithin,
  write: writeWithin,
  enter: enterAppRole,
}
