import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { paginate, type PageRequest } from '#app/http/pagination'
import { isUuid } from '#app/platform/ids'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { OPERATIONS_CHANNEL, type OperationStatus } from '#app/operations/operations'

export interface OperationRow {
  id: string
  created_by: string | null
  kind: string
  status: OperationStatus
  progress: number
  message: string | null
  result: unknown
  error: unknown
  cancel_requested: boolean
  created_at: Date
  started_at: Date | null
  finished_at: Date | null
}

export const TERMINAL: OperationStatus[] = ['succeeded', 'failed', 'cancelled']
const notFound = () => new ProblemException(404, 'operation_not_found', 'No such operation.')

export function presentOperation(row: OperationRow) {
  const iso = (value: Date | null) => (value ? new Date(value).toISOString() : null)
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    progress: row.progress,
    message: row.message,
    result: TERMINAL.includes(row.status) ? (row.result ?? null) : null,
    error: row.error ?? null,
    cancelRequested: row.cancel_requested,
    createdBy: row.created_by,
    createdAt: iso(row.created_at),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  }
}

/** Operations as the API sees them, each read its own short unit of work in the actor's tenant. */
export const operationsService = {
  /** Newest first; only the actor's own unless `everyone` (OperationPolicy decides). */
  list(
    actor: TenantActor,
    filters: PageRequest & { status?: OperationStatus; kind?: string },
    options: { everyone: boolean }
  ) {
    return inActiveTenant(actor, (trx) => {
      const query = trx.from('platform_operations').where('tenant_id', actor.tenantId)
      if (!options.everyone) query.where('created_by', actor.userId)
      if (filters.status) query.where('status', filters.status)
      if (filters.kind) query.where('kind', filters.kind)
      return paginate<OperationRow, ReturnType<typeof presentOperation>>(
        query,
        filters,
        {},
        presentOperation
      )
    })
  },

  /** The row, or the same 404 for a missing, malformed or other tenant's id. */
  find(actor: TenantActor, id: string) {
    if (!isUuid(id)) throw notFound()
    return inActiveTenant(actor, async (trx) => {
      const row: OperationRow | null = await trx
        .from('platform_operations')
        .where({ id, tenant_id: actor.tenantId })
        .first()
      if (!row) throw notFound()
      return row
    })
  },

  /** Cancels a queued operation at once, or asks a running one to stop; a finished one is a 409. */
  cancel(actor: TenantActor, id: string) {
    return inActiveTenant(actor, async (trx) => {
      const current: OperationRow | null = await trx
        .from('platform_operations')
        .where({ id, tenant_id: actor.tenantId })
        .forUpdate()
        .first()
      if (!current) throw notFound()
      if (TERMINAL.includes(current.status)) {
        throw new ProblemException(
          409,
          'operation_finished',
          `The operation already ${current.status}.`
        )
      }
      const changes =
        current.status === 'queued'
          ? { status: 'cancelled', cancel_requested: true, finished_at: trx.raw('now()') }
          : { cancel_requested: true }
      const [updated] = await trx
        .from('platform_operations')
        .where('id', current.id)
        .update({ ...changes, updated_at: trx.raw('now()') })
        .returning('*')
      // Wakes progress streams and the runner's cancellation check.
      await trx.rawQuery('SELECT pg_notify(?, ?)', [OPERATIONS_CHANNEL, current.id])
      return updated as OperationRow
    })
  },
}
