/*
| Middleware. Server middleware runs for every request, even unmatched ones,
| so request ids and metrics cover 404s too.
*/
import router from '@adonisjs/core/services/router'
import server from '@adonisjs/core/services/server'

server.errorHandler(() => import('#exceptions/handler'))

server.use([
  () => import('#middleware/request_id_middleware'),
  () => import('#middleware/request_guard_middleware'),
  () => import('#middleware/metrics_middleware'),
  () => import('#middleware/container_bindings_middleware'),
])

router.use([
  () => import('@adonisjs/core/bodyparser_middleware'),
  () => import('#middleware/input_guard_middleware'),
  () => import('@adonisjs/auth/initialize_auth_middleware'),
  () => import('#middleware/initialize_bouncer_middleware'),
])

export const middleware = router.named({
  idempotency: () => import('#middleware/idempotency_middleware'),
  auth: () => import('#middleware/auth_middleware'),
  operatorOnly: () => import('#middleware/operator_only_middleware'),
})
