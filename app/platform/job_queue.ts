import db from '@adonisjs/lucid/services/db'
import type { QueryClientContract } from '@adonisjs/lucid/types/database'
import type { StrictValues } from '@adonisjs/lucid/types/querybuilder'
import { dueInTurns } from '#app/platform/turns'
import { preparedName } from '#app/tenancy/prefixed_query'

/**
 * Exponential backoff with ±20% jitter, so failing work does not retry in
 * lockstep: `baseMs · 2^(attempts−1)`, at most `maxMs`. The one formula for
 * every retry in the platform (job tables, bus transports, upstream calls).
 */
export function backoffMs(attempts: number, options: { baseMs?: number; maxMs?: number } = {}) {
  const base = options.baseMs ?? 1000
  const cap = options.maxMs ?? 5 * 60 * 1000
  const delay = Math.min(cap, base * 2 ** Math.max(0, attempts - 1))
  return Math.round(delay * (0.8 + Math.random() * 0.4))
}

/**
 * A CTE (`commit_without_flush`) that makes the transaction it runs in commit
 * without waiting for its WAL to reach the disk (`synchronous_commit` off for
 * that transaction only). Join it into a statement's FROM so it is evaluated.
 *
 * For bookkeeping whose loss in a database crash only means work is done
 * again, never lost or done twice: a lease (the job is claimable again after
 * the crash) or the relay's hand-over (the outbox rows are relayed again, and
 * the inbox makes their effects once). Each synchronous commit waited ~0.4 ms
 * for an fdatasync on the 2-core machine, and a worker pass made three, two of
 * them such bookkeeping. Never for a transaction that writes anything else:
 * a business write needs its flush. PostgreSQL writes WAL in order, so a later
 * synchronous commit (the handlers' unit of work) flushes this one with it:
 * nothing that depends on it can outlive it.
 */
export const COMMIT_WITHOUT_FLUSH = `commit_without_flush AS MATERIALIZED (
           SELECT set_config('synchronous_commit', 'off', true)
         )`

/**
 * A raw statement sent as a named prepared statement: PostgreSQL parses and
 * plans it once per connection, then only binds and runs it. Its text must be
 * constant where it is called, values all bound (each text is one name, kept
 * for the connection's life), and its result columns named, never `*` (see
 * ClaimOptions.prepared). For the event loop's statements of every pass: the
 * relay's and the deliveries' claims (recursive CTEs) took 0.4–1.2 ms to plan
 * — more than to run — on the 2-core machine, with 200,000 rows or none.
 */
export function preparedRaw(client: QueryClientContract, sql: string, bindings: StrictValues[]) {
  const query = client.rawQuery(sql, bindings)
  query.knexQuery.options({ name: preparedName(sql) })
  return query
}

/** The columns a job table has; names differ between tables that predate this helper. */
export interface JobTable {
  table: string
  /** When the row is next due. A claim moves it a lease ahead, so a worker that dies lets it go. */
  dueColumn: string
  stateColumn: string
  /** States a worker may claim, and the state of a job that ran out of attempts. */
  states: { claimable: string[]; pending: string; dead: string }
  maxAttempts: number | (() => number)
  backoff: { baseMs: number; maxMs: number } | (() => { baseMs: number; maxMs: number })
}

export interface ClaimOptions {
  limit: number
  leaseSeconds: number
  /** More conditions on the due rows (`t.` is the job table), e.g. `t.subscriber = ANY(?)`. */
  where?: { sql: string; bindings: StrictValues[] }
  /** More assignments made by the claim, e.g. `status = 'running'`. */
  set?: string
  /** Other tables the answer reads from, joined to `t` (e.g. the outbox event of a delivery). */
  join?: { from: string; on: string }
  /** What the claim returns; default every column of the job row. */
  returning?: string
  /** Which due jobs go first (`t.` is the job table); default the oldest due. */
  orderBy?: string
  /**
   * Groups (a uuid column, e.g. the tenant) take turns instead of the oldest
   * going first (`dueInTurns` in turns.ts; needs an index on (column,
   * dueColumn) over the claimable rows). Not with `orderBy`.
   */
  turnsBy?: { column: string; after: string }
  /** False when the claim only hands the job on (to BullMQ) and the attempt is counted where it runs. */
  countsAttempt?: boolean
  /**
   * The claim commits without waiting for its WAL flush (COMMIT_WITHOUT_FLUSH):
   * for a claim that only leases, whose loss in a crash makes its jobs claimable
   * again. Only on its own (not in a transaction, which it would make
   * asynchronous as a whole).
   */
  commitWithoutFlush?: boolean
  /**
   * Sent as a prepared statement (preparedRaw): planned once per connection.
   * For a claim made on every pass of a busy loop. Needs `returning` as an
   * explicit column list: a prepared statement whose result columns change
   * under it (a migration adding a column to `t.*`) fails until the
   * connection closes.
   */
  prepared?: boolean
}

const resolve = <T>(value: T | (() => T)) =>
  typeof value === 'function' ? (value as () => T)() : value

const definedOnly = (values: Record<string, number | undefined>) =>
  Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined))

/**
 * A PostgreSQL table used as a job queue (DESIGN.md §5): the outbox's
 * deliveries, operations, mail and webhook deliveries all claim, lease, retry
 * and dead-letter the same way, through this.
 *
 * Why not pg-boss: the outbox deliveries must be written in the business
 * transaction as rows the relay joins to their events, and the other queues
 * are rows the API shows (a webhook's delivery log, an operation's progress).
 * pg-boss keeps its own tables and schema, so each would become two records
 * to keep in step; this helper is ~100 lines over the tables we already have.
 */
export function jobQueue(spec: JobTable) {
  const { table, dueColumn, stateColumn, states } = spec
  for (const state of [...states.claimable, states.pending, states.dead]) {
    if (!/^[a-z_]+$/.test(state)) throw new Error(`job state ${state} is not a plain name`)
  }
  // Written into the statements, not bound: a prepared statement's generic plan can then use the
  // tables' partial indexes (`WHERE state = 'pending'`), which a parameter could not prove to hold.
  const claimableStates = states.claimable.map((state) => `'${state}'`).join(', ')

  /** The rows a claim may take, with their bindings (`t.` is the job table). */
  const claimableNow = (options: ClaimOptions) => ({
    sql: `t.${stateColumn} IN (${claimableStates}) AND t.${dueColumn} <= now()${options.where ? ` AND ${options.where.sql}` : ''}`,
    bindings: [...(options.where?.bindings ?? [])],
  })

  function dueOldestFirst(options: ClaimOptions) {
    const claimable = claimableNow(options)
    return {
      ctes: `due AS (
           SELECT t.id FROM ${table} t
            WHERE ${claimable.sql}
            ORDER BY ${options.orderBy ?? `t.${dueColumn}, t.id`}
            LIMIT ?
            FOR UPDATE SKIP LOCKED
         )`,
      bindings: [...claimable.bindings, options.limit],
    }
  }

  return {
    /**
     * Claims up to `limit` due jobs at once for this worker: `FOR UPDATE SKIP
     * LOCKED` so concurrent workers never claim the same row, attempts counted
     * at claim time (a crash mid-job still counts), and the due time moved a
     * lease ahead.
     */
    async claim<Row>(options: ClaimOptions, client: QueryClientContract = db.connection()) {
      if (options.commitWithoutFlush && client.isTransaction)
        throw new Error(
          'a claim that commits without a flush must run on its own, not in a transaction'
        )
      if (options.prepared && !options.returning)
        throw new Error('a prepared claim must name the columns it returns')
      const from = `${options.join ? `, ${options.join.from}` : ''}${options.commitWithoutFlush ? ', commit_without_flush' : ''}`
      const joined = options.join ? ` AND ${options.join.on}` : ''
      const due = options.turnsBy
        ? dueInTurns({
            table,
            group: `t.${options.turnsBy.column}`,
            due: claimableNow(options),
            order: `t.${dueColumn}, t.id`,
            select: 't.id',
            limit: options.limit,
            after: options.turnsBy.after,
          })
        : dueOldestFirst(options)
      // SKIP LOCKED claims are the point of this query: it stays SQL.
      const sql = `WITH RECURSIVE ${due.ctes}${options.commitWithoutFlush ? `, ${COMMIT_WITHOUT_FLUSH}` : ''}
         UPDATE ${table} t
            SET ${options.countsAttempt === false ? '' : 'attempts = t.attempts + 1, '}${dueColumn} = now() + make_interval(secs => ?)${options.set ? `, ${options.set}` : ''}
           FROM due${from}
          WHERE t.id = due.id${joined}
         RETURNING ${options.returning ?? 't.*'}`
      const bindings = [...due.bindings, options.leaseSeconds]
      const { rows } = await (options.prepared
        ? preparedRaw(client, sql, bindings)
        : client.rawQuery(sql, bindings))
      return rows as Row[]
    },

    /**
     * Milliseconds until the earliest claimable job is due (0 or less: due
     * now; null: none waiting) — including claimed ones, whose lease ends
     * then. A worker with nothing to do sleeps this long instead of polling
     * (worker.ts); `where` narrows it as it narrows a claim. A prepared
     * statement (every idle loop asks it): `where.sql` must be constant text,
     * its values bound.
     */
    async nextDueMs(
      where?: { sql: string; bindings: StrictValues[] },
      client: QueryClientContract = db.connection()
    ): Promise<number | null> {
      const { rows } = await preparedRaw(
        client,
        `SELECT (extract(epoch FROM min(t.${dueColumn}) - now()) * 1000)::float8 AS ms
           FROM ${table} t
          WHERE t.${stateColumn} IN (${claimableStates})${where ? ` AND ${where.sql}` : ''}`,
        [...(where?.bindings ?? [])]
      )
      return millisecondsOrNull(rows[0]?.ms)
    },

    /**
     * A failed attempt: due again after the backoff, or dead once it has had
     * its attempts. `changes` records why (last_error, a status code).
     */
    async fail(
      job: { id: string; attempts: number },
      changes: Record<string, unknown> = {},
      options: {
        /** This job's own limit (e.g. its subscriber's), instead of the table's. */
        maxAttempts?: number
        backoff?: { baseMs?: number; maxMs?: number }
        client?: QueryClientContract
      } = {}
    ): Promise<'retry' | 'dead'> {
      const client = options.client ?? db.connection()
      const dead = job.attempts >= (options.maxAttempts ?? resolve(spec.maxAttempts))
      const backoff = { ...resolve(spec.backoff), ...definedOnly(options.backoff ?? {}) }
      await client
        .from(table)
        .where('id', job.id)
        .update({
          ...changes,
          [stateColumn]: dead ? states.dead : states.pending,
          [dueColumn]: client.raw('now() + make_interval(secs => ?)', [
            backoffMs(job.attempts, backoff) / 1000,
          ]),
        })
      return dead ? 'dead' : 'retry'
    },
  }
}

/** A `ms` column of a next-due query: null when nothing is waiting. */
export function millisecondsOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value)
}
