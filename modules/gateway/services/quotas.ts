import { clock } from '#app/platform/clock'
import db from '@adonisjs/lucid/services/db'
import redis from '@adonisjs/redis/services/main'
import { Counter, Gauge } from 'prom-client'
import { redisConfigured } from '#config/redis'
import { adjustManyScript, reserveOnRedis } from '#modules/gateway/services/reserve_script'
import { metricsRegistry } from '#app/observability/metrics'
import { ProblemException } from '#app/http/problem'
import { groupCall, groupCommit } from '#app/platform/group_commit'
import type { KeyLimits } from '#modules/gateway/services/keys'

/**
 * Quotas and budgets, exact across processes: every limited dimension is a
 * counter in a fixed window (minute, UTC day, UTC month). A request reserves
 * its estimate on every counter of its key and its tenant in one atomic step
 * (a Lua script on Redis, row locks in one transaction on PostgreSQL): either
 * all fit and all are incremented, or none is. After the answer the
 * reservation is settled to the real usage (the difference is refunded);
 * the answer does not wait for that write (see `PendingSettles`).
 */

export type Dimension = 'requests' | 'tokens' | 'tokensPerDay' | 'spend'

export interface Limits extends KeyLimits {}

/** Whose counter: an API key's, a user's (chat's per-user quotas) or the whole tenant's. */
export type QuotaScope = 'key' | 'user' | 'tenant'

const SCOPE_NAMES: Record<QuotaScope, string> = {
  key: 'this key',
  user: 'your own quota',
  tenant: 'this tenant',
}

interface CounterSpec {
  key: string
  dimension: Dimension
  scope: QuotaScope
  limit: number
  amount: number
  windowEndsAt: number
}

export interface Reservation {
  counters: CounterSpec[]
  /** x-ratelimit-* headers for the answer. */
  headers: Record<string, string>
}

export const quotaRejections = new Counter({
  name: 'gateway_quota_rejections_total',
  help: 'Requests refused by a quota or budget, by dimension and scope',
  labelNames: ['dimension', 'scope'] as const,
  registers: [metricsRegistry],
})

/** Spend is counted in millionths of a minor unit: tokens × price-per-million needs no rounding. */
export const MICRO = 1_000_000

interface Period {
  bucket: string
  endsAt: number
}

interface Windows {
  minute: Period
  day: Period
  month: Period
}

/** The windows of the last minute asked for: every request in a minute shares them. */
let lastWindows: { from: number; value: Windows } | null = null

function windows(now: number): Windows {
  const from = now - (now % 60_000)
  // Days and months turn on a minute's edge (UTC), so one minute has one of each.
  if (lastWindows?.from === from) return lastWindows.value
  const date = new Date(now)
  const dayEnd = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1)
  const monthEnd = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
  const value = {
    minute: { bucket: `m${from / 60_000}`, endsAt: from + 60_000 },
    day: { bucket: `d${date.toISOString().slice(0, 10)}`, endsAt: dayEnd },
    month: { bucket: `M${date.toISOString().slice(0, 7)}`, endsAt: monthEnd },
  }
  lastWindows = { from, value }
  for (const cached of Object.values(keysThisMinute)) cached.clear()
  return value
}

/**
 * Each scope's counter keys in the current minute (emptied when it turns):
 * a busy key's requests share the same strings instead of building four
 * each, and the batch's dedup looks them up by a hash already computed.
 */
const keysThisMinute: Record<QuotaScope, Map<string, Record<Dimension, string>>> = {
  key: new Map(),
  tenant: new Map(),
  user: new Map(),
}
const MAX_KEYED_SCOPES = 10_000

function counterKeys(scope: QuotaScope, id: string, window: Windows) {
  const cached = keysThisMinute[scope]
  let keys = cached.get(id)
  if (!keys) {
    const prefix = `gw:q:${scope}:${id}:`
    keys = {
      requests: `${prefix}requests:${window.minute.bucket}`,
      spend: `${prefix}spend:${window.month.bucket}`,
      tokens: `${prefix}tokens:${window.minute.bucket}`,
      tokensPerDay: `${prefix}tokensPerDay:${window.day.bucket}`,
    }
    if (cached.size >= MAX_KEYED_SCOPES) cached.clear()
    cached.set(id, keys)
  }
  return keys
}

/**
 * Counters are listed in one fixed order — by scope, then by dimension, each
 * alphabetically, which is their keys' order (`gw:q:<scope>:<id>:<dimension>:…`,
 * one id per scope in a request) — so two requests lock PostgreSQL rows in
 * the same order, never in a cycle. Written out rather than sorted per request.
 */
const SCOPE_ORDER: Record<QuotaScope, number> = { key: 0, tenant: 1, user: 2 }

/** The counters a request touches: one per limited dimension, for the key and for the tenant. */
export function countersFor(
  scopes: Array<{ scope: QuotaScope; id: string; limits: Limits }>,
  estimate: { tokens: number; costMicro: number },
  now = clock.now()
): CounterSpec[] {
  const window = windows(now)
  const counters: CounterSpec[] = []
  const ordered = scopes.every(
    (entry, index) => index === 0 || SCOPE_ORDER[scopes[index - 1].scope] < SCOPE_ORDER[entry.scope]
  )
    ? scopes
    : [...scopes].sort((a, b) => SCOPE_ORDER[a.scope] - SCOPE_ORDER[b.scope])
  for (const { scope, id, limits } of ordered) {
    const keys = counterKeys(scope, id, window)
    const add = (dimension: Dimension, limit: number, amount: number, period: Period) =>
      counters.push({
        key: keys[dimension],
        dimension,
        scope,
        limit,
        amount,
        windowEndsAt: period.endsAt,
      })
    if (isLimit(limits.requestsPerMinute))
      add('requests', limits.requestsPerMinute, 1, window.minute)
    if (isLimit(limits.monthlyBudget))
      add('spend', limits.monthlyBudget * MICRO, estimate.costMicro, window.month)
    if (isLimit(limits.tokensPerMinute))
      add('tokens', limits.tokensPerMinute, estimate.tokens, window.minute)
    if (isLimit(limits.tokensPerDay))
      add('tokensPerDay', limits.tokensPerDay, estimate.tokens, window.day)
  }
  return counters
}

const isLimit = (limit: number | null | undefined): limit is number =>
  limit !== null && limit !== undefined

interface StoreAnswer {
  /** Index of the counter that refused, or -1 when everything was reserved. */
  refused: number
  /** Each counter's value after the call (before, when refused). */
  used: number[]
}

interface QuotaStore {
  reserve(counters: CounterSpec[]): Promise<StoreAnswer>
  /** Each counter's value now (0 when it does not exist). */
  peek(keys: string[]): Promise<number[]>
  adjust(changes: Array<{ key: string; delta: number; windowEndsAt: number }>): Promise<void>
}

const GRACE_MS = 5 * 60_000

/**
 * Reservations and settles on Redis are grouped like PostgreSQL's: those
 * made while one call is in flight go together in the next — one script
 * call for many reservations (each still all or nothing, in order), one
 * for many settles — so a busy process pays a round trip per batch,
 * not per request.
 */
const reserveGroupedOnRedis = groupCall<CounterSpec[], StoreAnswer>(async (batch) =>
  splitAnswers(batch, await reserveOnRedis(redis.connection().ioConnection, batch, GRACE_MS))
)

const adjustGroupedOnRedis = groupCall<
  Array<{ key: string; delta: number; windowEndsAt: number }>,
  void
>(async (batch) => {
  // One change per counter: under load a batch settles the same busy counters many times over.
  const summed = new Map<string, { key: string; delta: number; windowEndsAt: number }>()
  for (const change of batch.flat()) {
    const seen = summed.get(change.key)
    if (seen) seen.delta += change.delta
    else summed.set(change.key, { ...change })
  }
  // A counter whose reservations were exact has nothing to settle; its expiry was set then.
  const changes = [...summed.values()].filter((change) => change.delta !== 0)
  if (changes.length > 0) {
    await adjustManyScript(redis.connection().ioConnection)(
      changes.length,
      ...changes.map((change) => change.key),
      ...changes.flatMap((change) => [change.delta, change.windowEndsAt + GRACE_MS])
    )
  }
  return batch.map(() => undefined)
})

const redisStore: QuotaStore = {
  reserve(counters) {
    return reserveGroupedOnRedis(counters)
  },
  async peek(keys) {
    const values = await redis.connection().ioConnection.mget(...keys)
    return values.map((value) => Number(value ?? 0))
  },
  adjust(changes) {
    return adjustGroupedOnRedis(changes)
  },
}

/** A batched answer, [refused, used…] per reservation concatenated, split back per reservation. */
function splitAnswers(batch: CounterSpec[][], answer: number[]): StoreAnswer[] {
  let offset = 0
  return batch.map((request) => {
    const refused = answer[offset]
    const used = answer.slice(offset + 1, offset + 1 + request.length)
    offset += 1 + request.length
    return { refused, used }
  })
}

/**
 * Reservations on PostgreSQL are grouped: those made while one call is in
 * flight go together in the next, in arrival order, each taken whole or
 * refused whole against the counts the ones before it left (gateway_reserve_many:
 * row locks in key order, checked and incremented server-side). Under load a
 * busy key's rows are locked once per batch instead of once per request.
 */
const reserveGrouped = groupCall<CounterSpec[], StoreAnswer>(async (batch) => {
  const counters = batch.flat()
  const { rows } = await db.rawQuery(
    'SELECT gateway_reserve_many(?::int[], ?::text[], ?::bigint[], ?::bigint[], ?::timestamptz[]) AS answer',
    [
      batch.flatMap((request, index) => request.map(() => index + 1)),
      counters.map((counter) => counter.key),
      counters.map((counter) => counter.amount),
      counters.map((counter) => counter.limit),
      counters.map((counter) => new Date(counter.windowEndsAt + GRACE_MS).toISOString()),
    ]
  )
  return splitAnswers(batch, (rows[0].answer as Array<string | number>).map(Number))
})

const postgresStore: QuotaStore = {
  reserve(counters) {
    return reserveGrouped(counters)
  },
  async peek(keys) {
    const rows = await db.from('gateway_quota_counters').whereIn('key', keys).select('key', 'used')
    return keys.map((key) => Number(rows.find((row) => row.key === key)?.used ?? 0))
  },
  adjust(changes) {
    return adjustGrouped(changes)
  },
}

/**
 * Settles on PostgreSQL are grouped: every settle locks the same hot counter
 * rows a reservation needs, so under load the concurrent ones are summed per
 * counter and written in one gateway_adjust (`npm run bench:gateway`). A
 * settle still resolves only once its change is stored.
 */
const adjustGrouped = groupCommit(async (deltas) => {
  const real = [...deltas].filter(([, delta]) => delta !== 0)
  if (real.length === 0) return
  await db.rawQuery('SELECT gateway_adjust(?::text[], ?::bigint[])', [
    real.map(([key]) => key),
    real.map(([, delta]) => delta),
  ])
})

/** The PostgreSQL store whatever is configured, for tests of its own behaviour. */
export const postgresQuotaStoreForTests = postgresStore
/** The Redis store whatever is configured, for tests of its own behaviour (REDIS_URL must be set). */
export const redisQuotaStoreForTests = redisStore

function store(): QuotaStore {
  return redisConfigured() ? redisStore : postgresStore
}

/** OpenAI's reset format: "1s", "6m0s", "2h3m4s". */
function resetIn(ms: number) {
  const seconds = Math.max(1, Math.ceil(ms / 1000))
  const hours = Math.floor(seconds / 3600)
  const minutes = Math.floor((seconds % 3600) / 60)
  const rest = seconds % 60
  if (hours) return `${hours}h${minutes}m${rest}s`
  if (minutes) return `${minutes}m${rest}s`
  return `${rest}s`
}

/** The tightest counter per dimension, as OpenAI's x-ratelimit-* headers (requests and tokens per minute). */
function headersFor(counters: CounterSpec[], used: number[], now: number) {
  const headers: Record<string, string> = {}
  for (const [dimension, suffix] of [
    ['requests', 'requests'],
    ['tokens', 'tokens'],
  ] as const) {
    let tightest: { limit: number; remaining: number; resetMs: number } | null = null
    counters.forEach((counter, index) => {
      if (counter.dimension !== dimension) return
      const remaining = Math.max(0, counter.limit - used[index])
      if (!tightest || remaining < tightest.remaining) {
        tightest = { limit: counter.limit, remaining, resetMs: counter.windowEndsAt - now }
      }
    })
    if (!tightest) continue
    const { limit, remaining, resetMs } = tightest
    headers[`x-ratelimit-limit-${suffix}`] = String(limit)
    headers[`x-ratelimit-remaining-${suffix}`] = String(remaining)
    headers[`x-ratelimit-reset-${suffix}`] = resetIn(resetMs)
  }
  return headers
}

const REFUSALS: Record<Dimension, { code: string; message: string }> = {
  requests: { code: 'rate_limit_exceeded', message: 'Rate limit reached for requests per minute' },
  tokens: { code: 'rate_limit_exceeded', message: 'Rate limit reached for tokens per minute' },
  tokensPerDay: { code: 'rate_limit_exceeded', message: 'Rate limit reached for tokens per day' },
  spend: { code: 'budget_exceeded', message: 'The monthly budget is spent' },
}

/**
 * Settles on their way to the store, by counter key. A settle is the last
 * write of a request and nothing in its answer depends on it, so the answer
 * goes out without waiting for it (one store round trip less on every /v1
 * call: at 200 req/s the PostgreSQL store's median went from 1.80 to 1.50 ms
 * of server time). What a caller could notice — its next request, sent the
 * moment the answer arrives, not seeing the refund — cannot happen within a
 * process: a reservation or a peek of a counter waits first for the settles
 * of that counter still on their way. Another process may count a refund a
 * round trip late; that only ever refuses early, never admits more than the
 * limits allow, as two requests in flight at once already could.
 */
export class PendingSettles {
  #byKey = new Map<string, Promise<void>>()
  #all = new Set<Promise<void>>()

  /** Tracks a settle of `keys` until it is stored or has failed. */
  add(keys: string[], stored: Promise<void>) {
    const done: Promise<void> = stored.then(
      () => this.#forget(keys, done),
      () => this.#forget(keys, done)
    )
    this.#all.add(done)
    // The store writes its batches in order, so the newest settle of a key is the one to wait for.
    for (const key of keys) this.#byKey.set(key, done)
  }

  /** What a call touching these counters must wait for, or null — no await on the common path. */
  before(counters: ReadonlyArray<{ key: string }>): Promise<unknown> | null {
    if (this.#byKey.size === 0) return null
    let waits: Set<Promise<void>> | null = null
    for (const { key } of counters) {
      const pending = this.#byKey.get(key)
      if (pending) (waits ??= new Set()).add(pending)
    }
    return waits ? Promise.all(waits) : null
  }

  /** Settles on their way now. */
  get size() {
    return this.#all.size
  }

  /** Every settle on its way, stored or failed: before the process closes its connections. */
  async drained() {
    while (this.#all.size > 0) await Promise.all(this.#all)
  }

  #forget(keys: string[], done: Promise<void>) {
    this.#all.delete(done)
    for (const key of keys) if (this.#byKey.get(key) === done) this.#byKey.delete(key)
  }
}

const pendingSettles = new PendingSettles()

new Gauge({
  name: 'gateway_quota_settles_pending',
  help: 'Quota settles sent to the store and not yet stored (answers do not wait for them)',
  registers: [metricsRegistry],
  collect() {
    this.set(pendingSettles.size)
  },
})

const settleWaits = new Counter({
  name: 'gateway_quota_settle_waits_total',
  help: 'Reservations and peeks that first waited for a settle of the same counter to be stored',
  registers: [metricsRegistry],
})

/** Waits for the settles of these counters still on their way (see `PendingSettles`). */
async function afterPendingSettles(counters: ReadonlyArray<{ key: string }>) {
  const pending = pendingSettles.before(counters)
  if (!pending) return
  settleWaits.inc()
  await pending
}

export const quotas = {
  /**
   * Reserves the estimate on every limited counter, or throws a 429 (with
   * retry-after and x-ratelimit-* headers) naming what ran out. Nothing is
   * reserved when one counter refuses.
   */
  async reserve(counters: CounterSpec[], now = clock.now()): Promise<Reservation> {
    if (counters.length === 0) return { counters, headers: {} }
    await afterPendingSettles(counters)
    const { refused, used } = await store().reserve(counters)
    const headers = headersFor(counters, used, now)
    if (refused >= 0) {
      const counter = counters[refused]
      quotaRejections.inc({ dimension: counter.dimension, scope: counter.scope })
      const retryAfterMs = Math.max(1, counter.windowEndsAt - now)
      const retryAfter = Math.ceil(retryAfterMs / 1000)
      const { code, message } = REFUSALS[counter.dimension]
      const left = Math.max(0, counter.limit - used[refused])
      throw new ProblemException(
        429,
        code,
        `${message} (${SCOPE_NAMES[counter.scope]}): ${left} of ${counter.limit} left, try again in ${retryAfter} s.`,
        undefined,
        // retry-after-ms too: OpenAI's SDKs prefer it, and wait exactly until the window turns.
        { ...headers, 'retry-after': String(retryAfter), 'retry-after-ms': String(retryAfterMs) }
      )
    }
    return { counters, headers }
  },

  /**
   * Replaces the estimate by what was used (a refund when less, a charge when
   * more; never refused). Resolves once stored; callers answering a request
   * need not wait for it (see `PendingSettles`).
   */
  settle(reservation: Reservation, actual: { tokens: number; costMicro: number }): Promise<void> {
    const changes = reservation.counters
      .filter((counter) => counter.dimension !== 'requests')
      .map((counter) => ({
        key: counter.key,
        windowEndsAt: counter.windowEndsAt,
        delta: (counter.dimension === 'spend' ? actual.costMicro : actual.tokens) - counter.amount,
      }))
      // An exact estimate has nothing to settle (both stores skip a zero change anyway).
      .filter((change) => change.delta !== 0)
    if (changes.length === 0) return Promise.resolve()
    const stored = store().adjust(changes)
    pendingSettles.add(
      changes.map((change) => change.key),
      stored
    )
    return stored
  },

  /** Every settle this process started is stored (or has failed): for shutdown, and for tests. */
  settled() {
    return pendingSettles.drained()
  },

  /** Where each counter stands, without reserving anything (for “how much is left” views). */
  async peek(counters: CounterSpec[], now = clock.now()) {
    await afterPendingSettles(counters)
    const used = counters.length ? await store().peek(counters.map((counter) => counter.key)) : []
    return counters.map((counter, index) => ({
      dimension: counter.dimension,
      limit: counter.limit,
      used: used[index],
      remaining: Math.max(0, counter.limit - used[index]),
      resetsAt: new Date(counter.windowEndsAt).toISOString(),
      resetsInMs: Math.max(0, counter.windowEndsAt - now),
    }))
  },

  /** Gives everything back, the request counter included: for a reservation whose call never happened. */
  async release(reservation: Reservation) {
    await store().adjust(
      reservation.counters.map((counter) => ({
        key: counter.key,
        windowEndsAt: counter.windowEndsAt,
        delta: -counter.amount,
      }))
    )
  },
}
