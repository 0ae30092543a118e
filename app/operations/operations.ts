import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { newId } from '#app/platform/ids'
import { jobQueue } from '#app/platform/job_queue'

export const OPERATIONS_CHANNEL = 'atrium_operations'
const LEASE_SECONDS = 60
const MAX_ATTEMPTS = 3

export type OperationStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'

export interface OperationJob<Input> {
  id: string
  tenantId: string
  input: Input
  /** Progress 0–100 (and an optional short message); also renews the lease. */
  report(progress: number, message?: string): Promise<void>
  /** True once someone asked to cancel: stop soon and return. */
  cancelled(): Promise<boolean>
}

/** What the worker loop drives: PostgreSQL leases (no Redis) or BullMQ. */
export interface OperationsRunner {
  readonly name: 'postgres' | 'bullmq'
  start?(): Promise<void>
  /** Runs (postgres) or queues (bullmq) what is due; returns how many, so the loop knows it was busy. */
  runDue(): Promise<number>
  /** Called whenever a slot frees up in this process, so the loop can fill it at once. */
  onSlotFree?(wake: () => void): void
  close?(): Promise<void>
}

/**
 * Operations from PostgreSQL leases (no Redis): up to `concurrency` at once,
 * like BullMQ's runner. runDue() starts what fits and returns without waiting
 * for it, so a ten-minute export holds one slot, not the loop: the others
 * keep running what is queued. A finished one wakes the worker's loop
 * (onSlotFree) to fill its slot. close() waits for the running ones (a
 * graceful stop).
 */
export class PostgresOperations implements OperationsRunner {
  readonly name = 'postgres' as const
  readonly #running = new Set<Promise<void>>()
  #wake = () => {}

  constructor(private readonly concurrency = 2) {}

  onSlotFree(wake: () => void) {
    this.#wake = wake
  }

  async runDue() {
    let started = 0
    while (this.#running.size < this.concurrency) {
      const [operation] = await claimOperations(1)
      if (!operation) break
      const running: Promise<void> = run(operation)
        .catch((error) =>
          logger.error({ err: error, operation: operation.id }, 'operation run failed')
        )
        .finally(() => {
          this.#running.delete(running)
          // Not the finish's NOTIFY: it can arrive while this slot still counts as taken.
          this.#wake()
        })
      this.#running.add(running)
      started++
    }
    return started
  }

  /** Operations running now in this process. */
  get active() {
    return this.#running.size
  }

  async close() {
    await Promise.all(this.#running)
  }
}

export const postgresOperations = new PostgresOperations()

type Handler = (job: OperationJob<unknown>) => Promise<unknown>
const handlers = new Map<string, Handler>()

/** Registers the code behind an operation kind (`<module>.<what>`); it runs outside any transaction. */
export function defineOperation<Input, Result>(
  kind: string,
  handler: (job: OperationJob<Input>) => Promise<Result>
) {
  handlers.set(kind, handler as Handler)
}

/**
 * Queues an operation inside the caller's tenant unit of work (so it exists
 * only if the request's change commits); answer 202 with the returned id.
 */
export async function startOperation(
  trx: TransactionClientContract,
  options: { tenantId: string; kind: string; input: unknown; createdBy?: string }
) {
  if (!handlers.has(options.kind)) throw new Error(`Unknown operation kind ${options.kind}`)
  const id = newId()
  await trx.table('platform_operations').insert({
    id,
    tenant_id: options.tenantId,
    kind: options.kind,
    input: JSON.stringify(options.input ?? {}),
    created_by: options.createdBy ?? null,
  })
  await trx.rawQuery('SELECT pg_notify(?, ?)', [OPERATIONS_CHANNEL, id])
  return id
}

/**
 * Runs due operations one at a time and waits for each (tests, one-off
 * drains; the worker uses PostgresOperations): claimed by lease (like
 * deliveries), run outside any transaction, progress written as it goes. A
 * worker that dies leaves a lease that expires; the operation then runs again
 * (up to 3 times). Returns how many it ran.
 */
export async function processOperations(limit = 5): Promise<number> {
  let ran = 0
  while (ran < limit) {
    const [operation] = await claimOperations(1)
    if (!operation) return ran
    ran++
    await run(operation)
  }
  return ran
}

function claimOperations(limit: number) {
  return operationQueue.claim<ClaimedOperation>({
    limit,
    leaseSeconds: LEASE_SECONDS,
    set: `status = 'running', started_at = coalesce(t.started_at, now()), updated_at = now()`,
    orderBy: `${TENANT_IN_FLIGHT}, t.available_at, t.id`,
    returning: 't.id, t.tenant_id, t.kind, t.input, t.attempts, t.cancel_requested',
    // A lease: lost in a database crash, the operation is claimed again (it may run again anyway).
    commitWithoutFlush: true,
    prepared: true,
  })
}

/**
 * How many operations of a due one's tenant are in flight now — running here,
 * or handed to BullMQ — under a live lease. Claims go to the tenant with the
 * fewest first, then the oldest: a tenant that queues fifty long exports takes
 * turns with the others instead of holding every slot until it is done.
 */
const TENANT_IN_FLIGHT = `(SELECT count(*) FROM platform_operations r
   WHERE r.tenant_id = t.tenant_id AND r.status IN ('queued', 'running') AND r.available_at > now())`

/**
 * BullMQ runner, step 1: hands due operations to the queue. Each row's
 * available_at moves a lease ahead first, so a row whose job was lost (Redis
 * down at add time, or its data gone) is offered again after it; the job id
 * is the operation id, so offering it twice queues it once.
 */
export async function claimForQueue(limit = 100): Promise<Array<{ id: string; priority: number }>> {
  const rows = await operationQueue.claim<{ id: string; in_flight: string; tenant_id: string }>({
    limit,
    leaseSeconds: LEASE_SECONDS,
    countsAttempt: false,
    commitWithoutFlush: true,
    prepared: true,
    orderBy: `${TENANT_IN_FLIGHT}, t.available_at, t.id`,
    // The subquery reads the rows as they were before this claim, so this batch is not in it.
    returning: `t.id, t.tenant_id, t.available_at, ${TENANT_IN_FLIGHT} AS in_flight`,
  })
  // BullMQ runs the lowest priority number first: a tenant's k-th operation in flight gets k,
  // so the queue interleaves tenants the way claimOperations does for PostgreSQL leases.
  const taken = new Map<string, number>()
  return rows.map((row) => {
    const before = taken.get(row.tenant_id) ?? Number(row.in_flight)
    taken.set(row.tenant_id, before + 1)
    return { id: row.id, priority: before + 1 }
  })
}

/**
 * BullMQ runner, step 2 (the job): BullMQ's lock keeps it to one worker at a
 * time; a job rerun after its worker died counts as another attempt.
 */
export async function runQueuedOperation(id: string) {
  const { rows } = await db.rawQuery(
    `UPDATE platform_operations
        SET status = 'running', attempts = attempts + 1, started_at = coalesce(started_at, now()),
            available_at = now() + make_interval(secs => ?), updated_at = now()
      WHERE id = ? AND status IN ('queued', 'running')
      RETURNING *`,
    [LEASE_SECONDS, id]
  )
  if (rows[0]) await run(rows[0])
}

interface ClaimedOperation {
  id: string
  tenant_id: string
  kind: string
  input: unknown
  attempts: number
  cancel_requested: boolean
}

/**
 * platform_operations as a job table. An operation is not retried after a
 * failure (it ends failed, with a problem); only a worker that died mid-run
 * lets its lease lapse, and the operation runs again, up to MAX_ATTEMPTS.
 */
const operationQueue = jobQueue({
  table: 'platform_operations',
  dueColumn: 'available_at',
  stateColumn: 'status',
  states: { claimable: ['queued', 'running'], pending: 'queued', dead: 'failed' },
  maxAttempts: MAX_ATTEMPTS,
  backoff: { baseMs: 1000, maxMs: 60_000 },
})

/**
 * Milliseconds until an operation is next due (queued, or a running one's
 * lease ends); null when none is waiting. The same table feeds both runners.
 */
export function operationsNextDueMs() {
  return operationQueue.nextDueMs()
}

async function run(operation: ClaimedOperation) {
  const finish = (status: OperationStatus, extra: Record<string, unknown> = {}) =>
    update(operation.id, { status, finished_at: db.raw('now()'), ...extra })

  const handler = handlers.get(operation.kind)
  if (!handler) {
    return finish('failed', {
      error: JSON.stringify(problemFor(`No handler for operation kind ${operation.kind}`)),
    })
  }
  if (operation.cancel_requested) return finish('cancelled')
  if (operation.attempts > MAX_ATTEMPTS) {
    return finish('failed', {
      error: JSON.stringify(problemFor('The operation was interrupted too many times')),
    })
  }
  const job: OperationJob<unknown> = {
    id: operation.id,
    tenantId: operation.tenant_id,
    input: operation.input,
    async report(progress, message) {
      const clamped = Math.max(0, Math.min(100, Math.round(progress)))
      await update(operation.id, {
        progress: clamped,
        message: message?.slice(0, 300) ?? null,
        available_at: db.raw(`now() + make_interval(secs => ?)`, [LEASE_SECONDS]),
      })
    },
    async cancelled() {
      const row = await db
        .from('platform_operations')
        .where('id', operation.id)
        .select('cancel_requested')
        .first()
      return Boolean(row?.cancel_requested)
    },
  }
  try {
    const result = await handler(job)
    if (await job.cancelled()) return finish('cancelled')
    await finish('succeeded', { progress: 100, result: JSON.stringify(result ?? null) })
  } catch (error) {
    logger.error({ err: error, operation: operation.id, kind: operation.kind }, 'operation failed')
    // The problem names the failure without internals, like an HTTP 500.
    await finish('failed', {
      error: JSON.stringify(problemFor('The operation failed; quote its id when reporting it.')),
    })
  }
}

async function update(id: string, changes: Record<string, unknown>) {
  await db
    .from('platform_operations')
    .where('id', id)
    .update({ ...changes, updated_at: db.raw('now()') })
  await db.rawQuery('SELECT pg_notify(?, ?)', [OPERATIONS_CHANNEL, id])
}

function problemFor(detail: string) {
  return {
    type: 'https://atrium.dev/problems/operation-failed',
    title: 'Operation failed',
    status: 500,
    code: 'operation_failed',
    detail,
  }
}
