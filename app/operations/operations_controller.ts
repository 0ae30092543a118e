import { PassThrough } from 'node:stream'
import type { HttpContext } from '@adonisjs/core/http'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { actorOf, type TenantActor } from '#app/auth/policies'
import OperationPolicy from '#app/operations/operation_policy'
import { ProblemException } from '#app/http/problem'
import { isUuid } from '#app/platform/ids'
import { tenancy } from '#app/tenancy/tenancy'
import { OPERATIONS_CHANNEL, type OperationStatus } from '#app/operations/operations'

interface OperationRow {
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

const TERMINAL: OperationStatus[] = ['succeeded', 'failed', 'cancelled']
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
    createdAt: iso(row.created_at),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
  }
}

/** Operations belong to the caller's active tenant; anything else (or a malformed id) is a 404. */
async function inTenant<T>(
  actor: TenantActor,
  id: string,
  work: (trx: TransactionClientContract) => Promise<T>
) {
  if (!isUuid(id)) throw notFound()
  return tenancy.run(actor.tenantId, work, { userId: actor.userId })
}

async function find(actor: TenantActor, id: string) {
  return inTenant(actor, id, async (trx) => {
    const row: OperationRow | null = await trx
      .from('platform_operations')
      .where({ id, tenant_id: actor.tenantId })
      .first()
    if (!row) throw notFound()
    return row
  })
}

/** The operation, when the caller may see it (OperationPolicy), else the same 404 as a missing one. */
async function authorizedFind(ctx: HttpContext) {
  const row = await find(actorOf(ctx), ctx.params.id)
  await ctx.bouncer.with(OperationPolicy).authorize('view', row)
  return row
}

export default class OperationsController {
  async show(ctx: HttpContext) {
    return ctx.response.ok(presentOperation(await authorizedFind(ctx)))
  }

  /** Cancels a queued operation at once, or asks a running one to stop; a finished one is a 409. */
  async destroy(ctx: HttpContext) {
    await authorizedFind(ctx)
    const actor = actorOf(ctx)
    const row = await inTenant(actor, ctx.params.id, async (trx) => {
      const current: OperationRow | null = await trx
        .from('platform_operations')
        .where({ id: ctx.params.id, tenant_id: actor.tenantId })
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
      await trx.rawQuery('SELECT pg_notify(?, ?)', [OPERATIONS_CHANNEL, current.id])
      return updated as OperationRow
    })
    return ctx.response.accepted(presentOperation(row))
  }

  /** Server-sent events: a `progress` event on every change, then `done` with the final state. */
  async events(ctx: HttpContext) {
    let row = await authorizedFind(ctx)
    const actor = actorOf(ctx)
    const stream = new PassThrough()
    let closed = false
    ctx.request.request.on('close', () => (closed = true))
    ctx.response.header('content-type', 'text/event-stream; charset=utf-8')
    ctx.response.header('cache-control', 'no-cache')
    ctx.response.header('x-accel-buffering', 'no')
    ctx.response.stream(stream)

    void (async () => {
      let last = ''
      try {
        while (!closed) {
          const json = JSON.stringify(presentOperation(row))
          if (json !== last) {
            stream.write(`event: progress\ndata: ${json}\n\n`)
            last = json
          }
          if (TERMINAL.includes(row.status)) {
            stream.write(`event: done\ndata: ${json}\n\n`)
            break
          }
          await new Promise((resolve) => setTimeout(resolve, 250))
          row = await find(actor, ctx.params.id)
        }
      } catch {
        stream.write(`event: error\ndata: {"code":"stream_failed"}\n\n`)
      }
      stream.end()
    })()
  }
}
