import { defineModule } from '#app/modules/definition'
import routes, { rootRoutes } from '#modules/gateway/routes'
import openapi from '#modules/gateway/openapi'
import { purgeUsage } from '#modules/gateway/jobs/purge_usage'
import { usageRecorder } from '#modules/gateway/services/usage'

/** API keys, quotas, providers and routing, usage, and the OpenAI-compatible /v1. */
export default defineModule({
  name: 'gateway',
  routes,
  rootRoutes,
  openapi,
  subscribers: () => import('#modules/gateway/subscribers'),
  maintenance: [purgeUsage],
  async onShutdown() {
    // Buffered usage is written before the process exits.
    await usageRecorder.close()
  },
})
