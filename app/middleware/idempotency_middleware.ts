import { createHash } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { ProblemException } from '#app/http/problem'
import { newId } from '#app/platform/ids'

/** How long an answer is replayed, and how long a crashed attempt blocks a retry. */
const RETAIN_HOURS = 24
const LOCK_SECONDS = 60
const KEY_FORMAT = /^[\x21-\x7e]{1,255}$/
const REPLAYED_HEADERS = ['content-type', 'location']

interface StoredAnswer {
  id: string
  request_hash: string
  state: 'processing' | 'completed'
  response_status: number | null
  response_headers: Record<string, string> | null
  response_body: unknown
  locked_until: Date
}

declare module '@adonisjs/core/http' {
  interface HttpContext {
    /** Who is calling, for scoping idempotency keys; set by the auth guard once a principal is known. */
    principal?: string
  }
}

/**
 * Idempotency-Key for POSTs that create (draft-ietf-httpapi-idempotency-key-header):
 * the same key and body replays the first answer; the same key with another
 * body is a 422; a retry while the first attempt runs is a 409. Keys are
 * scoped to the caller and the route. Only successful (2xx) answers are
 * stored: after an error (which changed nothing) or a crash, the key can be
 * retried, as with Stripe's API.
 *
 * Use as named middleware, after auth so keys are scoped to the signed-in user:
 * `.use([middleware.auth(), middleware.idempotency({ required: true })])`.
 */
export default class IdempotencyMiddleware {
  async handle(ctx: HttpContext, next: NextFn, options: { required?: boolean } = {}) {
    const key = ctx.request.header('idempotency-key')
    if (key === undefined) {
      if (options.required) {
        throw new ProblemException(
          400,
          'idempotency_key_required',
          'This endpoint requires an Idempotency-Key header.'
        )
      }
      return next()
    }
    if (!KEY_FORMAT.test(key)) {
      throw new ProblemException(
        400,
        'idempotency_key_invalid',
        'Idempotency-Key must be 1 to 255 visible ASCII characters.'
      )
    }

    const principal = ctx.principal ?? anonymousPrincipal(ctx)
    const route = `${ctx.request.method()} ${ctx.route?.pattern ?? ctx.request.url()}`
    const requestHash = hashRequest(route, ctx.request.raw() ?? '')

    const claimed = await claim(principal, route, key, requestHash)
    if (!claimed) {
      return replayOrRefuse(ctx, await load(principal, route, key), requestHash)
    }

    try {
      // AdonisJS turns a handler's error into a response before next() returns; the status tells.
      await next()
    } catch (error) {
      await release(claimed)
      throw error
    }
    const status = ctx.response.getStatus()
    const body = ctx.response.getBody()
    if (status < 200 || status >= 300 || !isStorable(body)) {
      await release(claimed)
      return
    }
    await db
      .from('idempotency_keys')
      .where('id', claimed)
      .update({
        state: 'completed',
        response_status: status,
        response_headers: JSON.stringify(pickHeaders(ctx)),
        response_body: JSON.stringify(body ?? null),
      })
  }
}

/** Inserts the key, or takes over a crashed attempt whose lock ran out. Returns the row id when ours. */
async function claim(principal: string, route: string, key: string, requestHash: string) {
  const id = newId()
  const inserted = await db.rawQuery(
    `INSERT INTO idempotency_keys (id, principal, route, key, request_hash, locked_until, expires_at)
     VALUES (?, ?, ?, ?, ?, now() + make_interval(secs => ?), now() + make_interval(hours => ?))
     ON CONFLICT (principal, route, key) DO UPDATE
       SET id = EXCLUDED.id, request_hash = EXCLUDED.request_hash, state = 'processing',
           locked_until = EXCLUDED.locked_until, expires_at = EXCLUDED.expires_at,
           response_status = NULL, response_headers = NULL, response_body = NULL, created_at = now()
       WHERE (idempotency_keys.state = 'processing' AND idempotency_keys.locked_until < now())
          OR idempotency_keys.expires_at < now()
     RETURNING id`,
    [id, principal, route, key, requestHash, LOCK_SECONDS, RETAIN_HOURS]
  )
  return inserted.rows.length ? (inserted.rows[0].id as string) : null
}

async function load(principal: string, route: string, key: string): Promise<StoredAnswer | null> {
  return db.from('idempotency_keys').where({ principal, route, key }).first()
}

async function release(id: string) {
  await db.from('idempotency_keys').where('id', id).delete()
}

function replayOrRefuse(ctx: HttpContext, stored: StoredAnswer | null, requestHash: string) {
  if (!stored) {
    // The holder released it between our insert and our read: the caller can simply retry.
    throw inProgress()
  }
  if (stored.request_hash !== requestHash) {
    throw new ProblemException(
      422,
      'idempotency_key_reused',
      'This Idempotency-Key was already used with a different request body.'
    )
  }
  if (stored.state !== 'completed') throw inProgress()

  for (const [name, value] of Object.entries(stored.response_headers ?? {}))
    ctx.response.header(name, value)
  ctx.response.header('Idempotent-Replayed', 'true')
  ctx.response.status(stored.response_status ?? 200)
  if (stored.response_body !== null) ctx.response.send(stored.response_body)
}

function inProgress() {
  return new ProblemException(
    409,
    'idempotency_request_in_progress',
    'A request with this Idempotency-Key is still being processed; retry shortly.',
    undefined,
    { 'Retry-After': '1' }
  )
}

function hashRequest(route: string, rawBody: string) {
  let canonical = rawBody
  try {
    canonical = JSON.stringify(sortKeys(JSON.parse(rawBody)))
  } catch {}
  return createHash('sha256').update(route).update('\n').update(canonical).digest('hex')
}

/** Same JSON with keys in another order is the same request. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((name) => [name, sortKeys((value as Record<string, unknown>)[name])])
    )
  }
  return value
}

function anonymousPrincipal(ctx: HttpContext) {
  const authorization = ctx.request.header('authorization')
  if (authorization)
    return `credential:${createHash('sha256').update(authorization).digest('hex').slice(0, 32)}`
  return `ip:${ctx.request.ip()}`
}

function pickHeaders(ctx: HttpContext) {
  const headers: Record<string, string> = {}
  for (const name of REPLAYED_HEADERS) {
    const value = ctx.response.getHeader(name)
    if (typeof value === 'string') headers[name] = value
  }
  return headers
}

function isStorable(body: unknown) {
  if (body === undefined || body === null) return true
  if (typeof body === 'object' && 'pipe' in body) return false
  return true
}
