import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { httpRequestDuration } from '#app/observability/metrics'

/**
 * Records duration by route pattern (never the raw URL, which would explode
 * label cardinality). A stage of the HTTP kernel (`http_kernel_middleware.ts`).
 */
export function recordMetrics(ctx: HttpContext, next: NextFn) {
  const started = process.hrtime.bigint()
  ctx.response.response.once('finish', () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    httpRequestDuration.observe(
      {
        method: ctx.request.method(),
        route: ctx.route?.pattern ?? 'unmatched',
        status: String(ctx.response.response.statusCode),
      },
      seconds
    )
  })
  return next()
}
