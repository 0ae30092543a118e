import db from '@adonisjs/lucid/services/db'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { APP_ROLE } from '#app/tenancy/sql'
import { isUuid } from '#app/platform/ids'
import { ENTER_STATEMENT, type EnterSettings } from '#app/tenancy/begin_with_settings'
import { oneTripRead, oneTripWrite, type ReadScope } from '#app/tenancy/one_trip_read'
import type { Statement } from '#app/tenancy/prefixed_query'

export interface UnitOfWorkOptions {
  /** The acting user, for policies that let users see their own rows across tenants. */
  userId?: string
  isolationLevel?: 'read committed' | 'repeatable read' | 'serializable'
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
  return db.transaction(work, {
    isolationLevel: options.isolationLevel,
    ...enterWithBegin({ tenantId, userId: options.userId }),
  })
}

/**
 * A unit of work with no tenant: the app role sees no tenant rows at all,
 * only rows a policy opens to the acting user (e.g. their memberships).
 */
export async function runAsUser<T>(
  userId: string,
  work: (trx: TransactionClientContract) => Promise<T>
) {
  if (!isUuid(userId)) throw new Error(`runAsUser needs a user uuid, got ${JSON.stringify(userId)}`)
  return db.transaction(work, enterWithBegin({ userId }))
}

/**
 * Transaction options whose BEGIN and settings travel with the unit of
 * work's first statement (begin_with_settings.ts): no round trip of their
 * own. Bound as values when that statement has values; inlined for one that
 * has none (a multi-statement message cannot carry parameters) — safe
 * because the role is a constant and both ids passed isUuid() above.
 */
function enterWithBegin(settings: { tenantId?: string; userId?: string }) {
  const tenantId = settings.tenantId ?? ''
  const userId = settings.userId ?? ''
  const entry: EnterSettings = {
    statement:
      `SELECT set_config('role', '${APP_ROLE}', true), ` +
      `set_config('app.tenant_id', '${tenantId}', true), ` +
      `set_config('app.user_id', '${userId}', true)`,
    values: [APP_ROLE, tenantId, userId],
  }
  // Lucid's options type lists isolationLevel only; knex passes the rest of the object through.
  return { [ENTER_STATEMENT]: entry } as unknown as Record<string, never>
}

async function enterAppRole(
  trx: TransactionClientContract,
  settings: { tenantId?: string; userId?: string }
) {
  // One round trip: set_config('role', …, true) is SET LOCAL ROLE (same permission check).
  await trx.rawQuery(
    `SELECT set_config('role', ?, true), set_config('app.tenant_id', ?, true), set_config('app.user_id', ?, true)`,
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
  values: unknown[] = []
): Promise<Row[]> {
  for (const id of [scope.tenantId, scope.userId]) {
    if (id !== undefined && !isUuid(id)) {
      throw new Error(`tenancy.read needs uuids, got ${JSON.stringify(id)}`)
    }
  }
  return oneTripRead<Row>(scope, sql, values)
}

/**
 * Statements under row-level security as one transaction in one round trip
 * (one_trip_read.ts, `oneTripWrite`) — for a hot write whose statements need
 * no decision in between; a write that reads and decides goes through `run`.
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
  return oneTripWrite(scope, statements)
}

export const tenancy = {
  run: runInTenant,
  runAsUser,
  read: readWithin,
  write: writeWithin,
  enter: enterAppRole,
}
