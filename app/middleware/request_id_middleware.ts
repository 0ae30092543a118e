import { randomUUID } from 'node:crypto'
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'

/** Accept a caller's id only when it is short and plain, so it is safe in logs and headers. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/

/**
 * Every response carries X-Request-Id, and every log line of the request
 * carries the same id. A sane incoming id is kept to join logs across services;
 * a missing or unsafe one is replaced by a UUID. A stage of the HTTP kernel
 * (`http_kernel_middleware.ts`).
 *
 * The id lives where AdonisJS reads it, the request's `x-request-id` header:
 * `request.id()` returns it, `ctx.logger` takes it at its first line
 * (app/http/request_logger.ts), and the response copies it into its own
 * header when it is written (`response.finish`), errors and streams included.
 */
export function requestId(ctx: HttpContext, next: NextFn) {
  const headers = ctx.request.request.headers
  const incoming = headers['x-request-id']
  if (typeof incoming !== 'string' || !SANE_REQUEST_ID.test(incoming)) {
    headers['x-request-id'] = randomUUID()
  }
  return next()
}
