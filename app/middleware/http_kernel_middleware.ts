import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { runStages, type Stage } from '#app/http/stages'
import { requestId } from '#middleware/request_id_middleware'
import { requestGuard } from '#middleware/request_guard_middleware'
import { recordMetrics } from '#middleware/metrics_middleware'

/**
 * What runs for every request, matched or not, so request ids, security
 * headers and metrics cover 404s too — in this order. One middleware for all
 * of them (see `runStages` for why).
 */
const stages: readonly Stage[] = [requestId, requestGuard(), recordMetrics]

export default class HttpKernelMiddleware {
  handle(ctx: HttpContext, next: NextFn) {
    return runStages(stages, ctx, next)
  }
}
