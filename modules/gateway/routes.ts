import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'

const OVERHEAD_HEADER = 'x-atrium-overhead-ms'
const AdminController = () => import('#modules/gateway/controllers/admin_controller')
const OpenAiController = () => import('#modules/gateway/controllers/openai_controller')
const ResponsesController = () => import('#modules/gateway/controllers/responses_controller')

/** /api/v1/gateway: providers, model aliases and API keys (tenant owners and admins). */
export default function gatewayRoutes() {
  router
    .group(() => {
      router.get('/providers', [AdminController, 'listProviders'])
      router.post('/providers', [AdminController, 'createProvider'])
      router.get('/providers/:id', [AdminController, 'showProvider'])
      router.patch('/providers/:id', [AdminController, 'updateProvider'])
      router.delete('/providers/:id', [AdminController, 'deleteProvider'])
      router.post('/providers/:id/test', [AdminController, 'testProvider'])
      router.get('/providers/:id/models', [AdminController, 'providerModels'])
      router.get('/platform-providers', [AdminController, 'platformProviders'])
      router.put('/platform-providers', [AdminController, 'updatePlatformProviders'])
      router.get('/models', [AdminController, 'listModels'])
      router.post('/models', [AdminController, 'createModel'])
      router.get('/models/:id', [AdminController, 'showModel'])
      router.patch('/models/:id', [AdminController, 'updateModel'])
      router.delete('/models/:id', [AdminController, 'deleteModel'])
      router.get('/keys', [AdminController, 'listKeys'])
      router.post('/keys', [AdminController, 'createKey'])
      router.get('/keys/:id', [AdminController, 'showKey'])
      router.patch('/keys/:id', [AdminController, 'updateKey'])
      router.post('/keys/:id/rotate', [AdminController, 'rotateKey'])
      router.post('/keys/:id/revoke', [AdminController, 'revokeKey'])
      router.get('/limits', [AdminController, 'showLimits'])
      router.put('/limits', [AdminController, 'updateLimits'])
      router.get('/usage', [AdminController, 'usage'])
    })
    .prefix('/gateway')
    .use(middleware.auth())
}

/** The OpenAI-compatible API at /v1, authenticated by API key. */
export function rootRoutes() {
  router
    .group(() => {
      router.post('/chat/completions', [OpenAiController, 'chatCompletions'])
      router.post('/completions', [OpenAiController, 'completions'])
      router.post('/responses', [ResponsesController, 'create'])
      router.get('/responses/:id', [ResponsesController, 'show'])
      router.delete('/responses/:id', [ResponsesController, 'destroy'])
      router.post('/embeddings', [OpenAiController, 'embeddings'])
      router.get('/models', [OpenAiController, 'models'])
      router.get('/models/:model', [OpenAiController, 'model'])
    })
    .prefix('/v1')
    .use(async (ctx, next) => {
      // Answers that never reached an upstream (refusals, errors) still say what Atrium spent.
      const started = performance.now()
      try {
        await next()
      } finally {
        if (!ctx.response.getHeader(OVERHEAD_HEADER)) {
          ctx.response.header(OVERHEAD_HEADER, (performance.now() - started).toFixed(2))
        }
      }
    })
}
