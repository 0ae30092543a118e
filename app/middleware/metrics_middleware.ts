import { subscribe } from 'node:diagnostics_channel'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { httpRequestDuration } from '#app/observability/metrics'

/** Kept on Node's request object, where the finished response's message finds them. */
const timedContext = Symbol('atrium.metrics.context')
const timedSince = Symbol('atrium.metrics.since')

interface TimedRequest extends IncomingMessage {
  [timedContext]?: HttpContext
  [timedSince]?: number
}

/**
 * Records duration by route pattern (never the raw URL, which would explode
 * label cardinality) and the status as written, when the response finishes —
 * a 204 for an empty body, an error's status, a stream's end. A stage of the
 * HTTP kernel (`http_kernel_middleware.ts`).
 *
 * Node announces every finished response on the `http.server.response.finish`
 * channel, so one subscriber for the process replaces a `once('finish')`
 * listener per request (its wrapper, its closure, and the emitter's array of
 * two listeners made and spliced each time).
 */
export function recordMetrics(ctx: HttpContext, next: NextFn) {
  const request = ctx.request.request as TimedRequest
  request[timedContext] = ctx
  request[timedSince] = performance.now()
  return next()
}

/** Also hears servers that are not Atrium's (a test's fake upstream): those carry no context. */
subscribe('http.server.response.finish', (message) => {
  const { request, response } = message as { request: TimedRequest; response: ServerResponse }
  const ctx = request[timedContext]
  const since = request[timedSince]
  if (!ctx || since === undefined) return
  httpRequestDuration.observe(
    [ctx.request.method(), ctx.route?.pattern ?? 'unmatched', response.statusCode],
    (performance.now() - since) / 1000
  )
})
