import { randomUUID } from 'node:crypto'
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'

/** Accept a caller's id only when it is short and plain, so it is safe in logs and headers. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/

/**
 * Every response carries X-Request-Id, and every log line of the request
 * carries the same id. A sane incoming id is kept to join logs across services.
 * A stage of the HTTP kernel (`http_kernel_middleware.ts`).
 */
export function requestId(ctx: HttpContext, next: NextFn) {
  // AdonisJS has already taken the caller's id (or made one). ctx.logger reads it at its first
  // line (app/http/request_logger.ts), so replacing the header here is all a replaced id needs.
  let id = ctx.request.id()!
  if (!SANE_REQUEST_ID.test(id)) {
    id = randomUUID()
    ctx.request.request.headers['x-request-id'] = id
  }
  ctx.response.header('X-Request-Id', id)
  return next()
}
