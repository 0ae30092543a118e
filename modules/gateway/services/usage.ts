import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { LabelledCounter, LabelledHistogram } from '#app/observability/labelled_metrics'
import { metricsRegistry } from '#app/observability/metrics'
import { newId } from '#app/platform/ids'
import { outsideRequests } from '#app/platform/outside_requests'
import { MICRO } from '#modules/gateway/services/quotas'

export interface UsageRecord {
  tenantId: string
  keyId: string | null
  userId: string | null
  modelAlias: string
  deploymentId: string | null
  kind: 'chat' | 'embeddings'
  promptTokens: number
  completionTokens: number
  costMicro: number
  currency: string
  latencyMs: number
  ttftMs: number | null
  status: number
  requestId: string | null
  createdAt: Date
}

const NO_KEY = '00000000-0000-0000-0000-000000000000'
const FLUSH_EVERY_MS = 1000
const FLUSH_AT = 500
/** What a process keeps while the database refuses batches, before it drops the oldest. */
const MAX_BUFFERED = 50_000

// Each /v1 call counts into all of these: labelled_metrics.ts says why not prom-client's classes.
const requestsTotal = new LabelledCounter({
  name: 'gateway_requests_total',
  help: 'Gateway requests by model alias, kind and status',
  labelNames: ['model', 'kind', 'status'],
  registers: [metricsRegistry],
})
const tokensTotal = new LabelledCounter({
  name: 'gateway_tokens_total',
  help: 'Tokens counted by the gateway, by model alias and direction (input, output)',
  labelNames: ['model', 'direction'],
  registers: [metricsRegistry],
})
const costTotal = new LabelledCounter({
  name: 'gateway_cost_minor_total',
  help: 'Cost of gateway requests in minor units, by model alias and currency',
  labelNames: ['model', 'currency'],
  registers: [metricsRegistry],
})
const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
export const latencyHistogram = new LabelledHistogram({
  name: 'gateway_request_duration_seconds',
  help: 'Gateway request time: total, upstream, overhead (total minus upstream) and time to first token',
  labelNames: ['model', 'phase'],
  buckets,
  registers: [metricsRegistry],
})

/**
 * Usage records leave the request path: they are buffered and written every
 * second (or every 500) as one multi-row insert plus one upsert of the daily
 * rollups. A failed batch is kept and retried with the next one.
 */
class UsageRecorder {
  #buffer: UsageRecord[] = []
  #timer?: NodeJS.Timeout
  #flushing?: Promise<void>

  record(entry: UsageRecord) {
    requestsTotal.inc([entry.modelAlias, entry.kind, entry.status])
    tokensTotal.inc([entry.modelAlias, 'input'], entry.promptTokens)
    tokensTotal.inc([entry.modelAlias, 'output'], entry.completionTokens)
    costTotal.inc([entry.modelAlias, entry.currency], entry.costMicro / MICRO)
    this.#buffer.push(entry)
    if (this.#buffer.length > MAX_BUFFERED)
      this.#buffer.splice(0, this.#buffer.length - MAX_BUFFERED)
    if (this.#buffer.length >= FLUSH_AT) void this.flush()
    else this.#timer ??= this.#flushAfter(FLUSH_EVERY_MS)
  }

  /**
   * Armed by whichever request records first: made outside it, or the timer would
   * keep that request's whole context alive until the flush (docs/modules.md, item 11).
   */
  #flushAfter(ms: number) {
    return outsideRequests(() => setTimeout(() => void this.flush(), ms))
  }

  /** Writes what is buffered (one batch at a time). */
  async flush(): Promise<void> {
    if (this.#flushing) return this.#flushing
    clearTimeout(this.#timer)
    this.#timer = undefined
    const batch = this.#buffer.splice(0)
    if (batch.length === 0) return
    this.#flushing = write(batch)
      .catch((error) => {
        logger.warn({ err: error, records: batch.length }, 'usage batch not written; retrying')
        this.#buffer.unshift(...batch)
        this.#timer ??= this.#flushAfter(FLUSH_EVERY_MS * 5)
      })
      .finally(() => (this.#flushing = undefined))
    await this.#flushing
    if (this.#buffer.length >= FLUSH_AT) await this.flush()
  }

  async close() {
    await this.#flushing
    await this.flush()
    clearTimeout(this.#timer)
  }
}

async function write(batch: UsageRecord[]) {
  // As the platform: one batch holds many tenants' rows. One JSON parameter rather than
  // thousands of bindings: building a large multi-row INSERT in JS stalls the event loop.
  await db.transaction(async (trx) => {
    await trx.rawQuery(
      `INSERT INTO gateway_usage (id, tenant_id, key_id, user_id, model_alias, deployment_id, kind,
         prompt_tokens, completion_tokens, cost_micro, currency, latency_ms, ttft_ms, status,
         request_id, created_at, updated_at)
       SELECT id, tenant_id, key_id, user_id, model_alias, deployment_id, kind, prompt_tokens,
              completion_tokens, cost_micro, currency, latency_ms, ttft_ms, status, request_id,
              created_at, created_at
         FROM (SELECT r.*, to_timestamp(r.created_ms / 1000.0) AS created_at
                 FROM jsonb_to_recordset(?::jsonb) AS r(id uuid, tenant_id uuid, key_id uuid,
                   user_id uuid, model_alias text, deployment_id uuid, kind text,
                   prompt_tokens int, completion_tokens int, cost_micro bigint, currency text,
                   latency_ms int, ttft_ms int, status int, request_id text, created_ms bigint)) r`,
      [
        JSON.stringify(
          batch.map((entry) => ({
            id: newId(),
            tenant_id: entry.tenantId,
            key_id: entry.keyId,
            user_id: entry.userId,
            model_alias: entry.modelAlias,
            deployment_id: entry.deploymentId,
            kind: entry.kind,
            prompt_tokens: entry.promptTokens,
            completion_tokens: entry.completionTokens,
            cost_micro: entry.costMicro,
            currency: entry.currency,
            latency_ms: Math.round(entry.latencyMs),
            ttft_ms: entry.ttftMs === null ? null : Math.round(entry.ttftMs),
            status: entry.status,
            request_id: entry.requestId,
            // Epoch milliseconds, made a timestamp by PostgreSQL: toISOString per row cost the
            // flush more than the rest of the row.
            created_ms: entry.createdAt.getTime(),
          }))
        ),
      ]
    )
    await upsertRollups(trx, batch)
    await markKeysUsed(trx, batch)
  })
}

/**
 * Each key's last use, written with the batch rather than per request: one
 * statement per flush whatever the traffic, and never moved backwards by a
 * batch that arrives late. (Not a key change: no cache is dropped for it.)
 */
async function markKeysUsed(trx: TransactionClientContract, batch: UsageRecord[]) {
  const lastUse = new Map<string, Date>()
  for (const entry of batch) {
    if (!entry.keyId) continue
    const seen = lastUse.get(entry.keyId)
    if (!seen || entry.createdAt > seen) lastUse.set(entry.keyId, entry.createdAt)
  }
  if (lastUse.size === 0) return
  await trx.rawQuery(
    `UPDATE gateway_keys k
        SET last_used_at = greatest(k.last_used_at, u.at)
       FROM jsonb_to_recordset(?::jsonb) AS u(id uuid, at timestamptz)
      WHERE k.id = u.id`,
    [JSON.stringify([...lastUse].map(([id, at]) => ({ id, at: at.toISOString() })))]
  )
}

const DAY_MS = 86_400_000
/** The UTC day last asked for: a batch's records nearly always share it. */
let lastDay = { from: 0, day: '' }

/** YYYY-MM-DD in UTC. */
function utcDay(ms: number) {
  const from = ms - (ms % DAY_MS)
  if (lastDay.from !== from) lastDay = { from, day: new Date(ms).toISOString().slice(0, 10) }
  return lastDay.day
}

async function upsertRollups(trx: TransactionClientContract, batch: UsageRecord[]) {
  const groups = new Map<string, Record<string, string | number>>()
  for (const entry of batch) {
    const day = utcDay(entry.createdAt.getTime())
    const keyId = entry.keyId ?? NO_KEY
    const id = `${entry.tenantId}|${day}|${keyId}|${entry.modelAlias}|${entry.currency}`
    const group = groups.get(id) ?? {
      tenant_id: entry.tenantId,
      day,
      key_id: keyId,
      model_alias: entry.modelAlias,
      currency: entry.currency,
      requests: 0,
      errors: 0,
      prompt_tokens: 0,
      completion_tokens: 0,
      cost_micro: 0,
      latency_ms_sum: 0,
    }
    ;(group.requests as number) += 1
    ;(group.errors as number) += entry.status >= 400 ? 1 : 0
    ;(group.prompt_tokens as number) += entry.promptTokens
    ;(group.completion_tokens as number) += entry.completionTokens
    ;(group.cost_micro as number) += entry.costMicro
    ;(group.latency_ms_sum as number) += Math.round(entry.latencyMs)
    groups.set(id, group)
  }
  const sums = [
    'requests',
    'errors',
    'prompt_tokens',
    'completion_tokens',
    'cost_micro',
    'latency_ms_sum',
  ]
  await trx.rawQuery(
    `INSERT INTO gateway_usage_daily (tenant_id, day, key_id, model_alias, currency, ${sums.join(', ')})
     SELECT * FROM jsonb_to_recordset(?::jsonb) AS r(tenant_id uuid, day date, key_id uuid,
       model_alias text, currency text, ${sums.map((name) => `${name} bigint`).join(', ')})
     ORDER BY tenant_id, day, key_id, model_alias, currency
     ON CONFLICT (tenant_id, day, key_id, model_alias, currency) DO UPDATE SET
       ${sums.map((name) => `${name} = gateway_usage_daily.${name} + EXCLUDED.${name}`).join(', ')}`,
    [JSON.stringify([...groups.values()])]
  )
}

export const usageRecorder = new UsageRecorder()
export { NO_KEY }
