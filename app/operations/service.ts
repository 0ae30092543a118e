import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { paginate, type PageRequest } from '#app/http/pagination'
import { isUuid } from '#app/platform/ids'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { DateTime } from 'luxon'
import { OPERATIONS_CHANNEL, type OperationStatus } from '#app/operations/operations'
import Operation, { TERMINAL } from '#app/operations/operation'

export { TERMINAL }

const notFound = () => new ProblemException(404, 'operation_not_found', 'No such operation.')

/** Operations as the API sees them, each read its own short unit of work in the actor's tenant. */
export const operationsService = {
  /** Newest first; only the actor's own unless `everyone` (OperationPolicy decides). */
  list(
    actor: TenantActor,
    filters: PageRequest & { status?: OperationStatus; kind?: string },
    options: { everyone: boolean }
  ) {
    return inActiveTenant(
      actor,
      (trx) => {
        const query = Operation.query({ client: trx }).where('tenant_id', actor.tenantId)
        if (!options.everyone) query.where('created_by', actor.userId)
        if (filters.status) query.where('status', filters.status)
        if (filters.kind) query.where('kind', filters.kind)
        return paginate(query, filters, {}, (operation) => operation.serialize())
      },
      { readOnly: true }
    )
  },

  /** The row, or the same 404 for a missing, malformed or other tenant's id. */
  find(actor: TenantActor, id: string) {
    if (!isUuid(id)) throw notFound()
    return inActiveTenant(
      actor,
      async (trx) => {
        const operation = await Operation.query({ client: trx })
          .where({ id, tenant_id: actor.tenantId })
          .first()
        if (!operation) throw notFound()
        return operation
      },
      { readOnly: true }
    )
  },

  /** Cancels a queued operation at once, or asks a running one to stop; a finished one is a 409. */
  cancel(actor: TenantActor, id: string) {
    return inActiveTenant(actor, async (trx) => {
      const current = await Operation.query({ client: trx })
        .where({ id, tenant_id: actor.tenantId })
        .forUpdate()
        .first()
      if (!current) throw notFound()
      if (current.finished) {
        throw new ProblemException(
          409,
          'operation_finished',
          `The operation already ${current.status}.`
        )
      }
      current.cancelRequested = true
      if (current.status === 'queued') {
        current.merge({ status: 'cancelled', finishedAt: DateTime.now() })
      }
      await current.useTransaction(trx).save()
      // Wakes progress streams and the runner's cancellation check.
      await trx.rawQuery('SELECT pg_notify(?, ?)', [OPERATIONS_CHANNEL, current.id])
      return current
    })
  },
}
