import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { httpRequestDuration } from '#app/observability/metrics'

/**
 * Records duration by route pattern (never the raw URL, which would explode
 * label cardinality) and the status as written, when the response finishes —
 * a 204 for an empty body, a stream's end. A stage of the HTTP kernel
 * (`http_kernel_middleware.ts`).
 */
export function recordMetrics(ctx: HttpContext, next: NextFn) {
  const started = performance.now()
  ctx.response.response.once('finish', () => {
    httpRequestDuration.observe(
      [ctx.request.method(), ctx.route?.pattern ?? 'unmatched', ctx.response.response.statusCode],
      (performance.now() - started) / 1000
    )
  })
  return next()
}
