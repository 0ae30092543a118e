import { Logger } from '@adonisjs/core/logger'
import { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'

/**
 * Lets the container inject the request's HttpContext and logger into
 * services. A stage of the HTTP kernel (`http_kernel_middleware.ts`).
 */
export function bindRequestToContainer(ctx: HttpContext, next: NextFn) {
  ctx.containerResolver.bindValue(HttpContext, ctx)
  ctx.containerResolver.bindValue(Logger, ctx.logger)
  return next()
}
