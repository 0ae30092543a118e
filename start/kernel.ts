/*
| Middleware. AdonisJS resolves each registered middleware through the
| container on every request, so the kernel's own steps run as plain
| functions inside one server middleware and one router middleware (see
| app/http/stages.ts); the order is in each of those files.
*/
import app from '@adonisjs/core/services/app'
import router from '@adonisjs/core/services/router'
import server from '@adonisjs/core/services/server'
import { defineContextGetters } from '#app/http/context'
import { authenticate } from '#middleware/auth_middleware'
import { redisConfigured } from '#config/redis'
import { openSharedRedis } from '#app/platform/shared_redis'
import logger from '@adonisjs/core/services/logger'
import { logRequestsLazily } from '#app/http/request_logger'
import { bindRequestScope } from '#app/http/request_scope'

server.errorHandler(() => import('#exceptions/handler'))

/** `ctx.logger` is bound to the request's id on its first log line, not on every request. */
logRequestsLazily(server, logger)

/** Every request, matched or not, so request ids, security headers and metrics cover 404s too. */
server.use([() => import('#middleware/http_kernel_middleware')])

/** Every matched route: the body parser and the input guard. */
router.use([() => import('#middleware/route_kernel_middleware')])

defineContextGetters(await app.container.make('auth.manager'))

/** `@inject()` of HttpContext or Logger: the current request's, found when asked (app/http/request_scope.ts). */
bindRequestScope(app.container)

// Before any request can be the first to need it (app/platform/shared_redis.ts).
if (redisConfigured() && ['web', 'test'].includes(app.getEnvironment())) openSharedRedis()

export const middleware = {
  ...router.named({
    idempotency: () => import('#middleware/idempotency_middleware'),
    operatorOnly: () => import('#middleware/operator_only_middleware'),
  }),
  auth: () => authenticate,
}
