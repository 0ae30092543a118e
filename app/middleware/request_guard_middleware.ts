import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import type { Stage } from '#app/http/stages'
import env from '#start/env'
import { ProblemException } from '#app/http/problem'

/** The API answers JSON: nothing may sniff it into HTML, frame it, or learn where it was linked from. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

/**
 * The reference page at /docs loads swagger-ui from this server only (it
 * works offline); swagger-ui sets inline styles, and "try it out" calls this
 * API.
 */
const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ')

const HSTS = 'max-age=31536000; includeSubDomains'

/**
 * Answers hold tokens (login, refresh: RFC 6749 §5.1 requires no-store on
 * them) and tenants' data; no browser or proxy cache may keep one. A route
 * whose answer is public says so itself, after this (the JWKS, /docs assets).
 */
const NOT_STORED = 'no-store'

/**
 * Runs for every request, matched or not: security headers on every answer
 * (and `Cache-Control: no-store` unless the route sets its own),
 * and multipart bodies refused before anything parses them — no route takes
 * uploads, and a parsed multipart body is written to temporary files.
 * A stage of the HTTP kernel (`http_kernel_middleware.ts`); the settings are
 * read once, when the kernel is made.
 */
export function requestGuard(): Stage {
  const https = (env.get('APP_URL') ?? '').startsWith('https://')
  return async function guardRequest(ctx: HttpContext, next: NextFn) {
    const { response, request } = ctx
    response.header('x-content-type-options', 'nosniff')
    response.header('referrer-policy', 'no-referrer')
    response.header('x-frame-options', 'DENY')
    response.header('cross-origin-opener-policy', 'same-origin')
    response.header('cache-control', NOT_STORED)
    response.header(
      'content-security-policy',
      request.url().startsWith('/docs') ? DOCS_CSP : API_CSP
    )
    if (https) response.header('strict-transport-security', HSTS)

    const type = request.header('content-type')
    if (type && /^\s*multipart\//i.test(type)) {
      // Not read: the socket is closed after the answer rather than draining an upload.
      response.header('connection', 'close')
      throw new ProblemException(
        415,
        'unsupported_media_type',
        'This API takes JSON bodies (application/json); no route accepts uploads.'
      )
    }
    return next()
  }
}
