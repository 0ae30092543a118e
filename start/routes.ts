/*
| Routes: the platform's own (health, metrics, OpenAPI, docs) and every mounted
| module's, under /api/v1. Modules register their routes in modules/<name>/routes.ts.
*/
import env from '#start/env'
import router from '@adonisjs/core/services/router'
import server from '@adonisjs/core/services/server'
import app from '@adonisjs/core/services/app'
import { MODULE_NAMES, MODULES, mountedModules, registerModuleParts } from '#start/modules'
import { buildDocument } from '#app/openapi/document'
import { publishDocument } from '#app/openapi/registry'
import { platformOpenApi } from '#app/http/platform_openapi'
import { operationsOpenApi } from '#app/operations/openapi'
import { middleware } from '#start/kernel'
import { changeFeed } from '#app/platform/change_feed'
import { callHandlersDirectly } from '#app/http/direct_calls'
import packageJson from '../package.json' with { type: 'json' }

callHandlersDirectly(router, server)

const PlatformController = () => import('#app/http/platform_controller')
const OperationsController = () => import('#app/operations/operations_controller')

router.get('/health/live', [PlatformController, 'live'])
router.get('/health/ready', [PlatformController, 'ready'])
router.get('/metrics', [PlatformController, 'metrics']).use(middleware.operatorOnly())
router.get('/openapi.json', [PlatformController, 'openapi'])
router.get('/docs', [PlatformController, 'docs'])
router.get('/docs/init.js', [PlatformController, 'docsInit'])
router.get('/docs/assets/:name', [PlatformController, 'docsAsset'])

const modules = mountedModules(env.get('ATRIUM_MODULES'))
await registerModuleParts()
app.terminating(() => changeFeed.close())
// Every loaded module's shutdown runs, mounted or not: its buffers and listeners live in this process.
for (const name of MODULE_NAMES) {
  const { onShutdown } = MODULES[name] as { onShutdown?: () => Promise<void> }
  if (onShutdown) app.terminating(onShutdown)
}

router
  .group(() => {
    router
      .group(() => {
        router.get('/', [OperationsController, 'index'])
        router.get('/:id', [OperationsController, 'show'])
        router.delete('/:id', [OperationsController, 'destroy'])
        router.get('/:id/events', [OperationsController, 'events'])
      })
      .prefix('/operations')
      .use(middleware.auth())
    for (const module of modules) module.routes()
  })
  .prefix('/api/v1')

for (const module of modules) module.rootRoutes?.()

publishDocument(
  buildDocument(
    {
      title: 'Atrium API',
      version: packageJson.version,
      description:
        'One REST API: accounts and tenants, the LLM gateway (with the OpenAI-compatible /v1), ' +
        'orders, inventory and notifications. Errors are RFC 9457 problems; lists use cursor pagination.',
    },
    [
      platformOpenApi,
      operationsOpenApi,
      ...modules.map((module) =>
        typeof module.openapi === 'function' ? module.openapi() : module.openapi
      ),
    ]
  )
)
