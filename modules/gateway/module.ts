import { defineModule } from '#app/modules/definition'
import routes, { rootRoutes } from '#modules/gateway/routes'
import openapi from '#modules/gateway/openapi'
import { purgeUsage } from '#modules/gateway/jobs/purge_usage'
import { usageRecorder } from '#modules/gateway/services/usage'
import { quotas } from '#modules/gateway/services/quotas'

/** API keys, quotas, providers and routing, usage, and the OpenAI-compatible /v1. */
export default defineModule({
  name: 'gateway',
  routes,
  rootRoutes,
  openapi,
  subscribers: () => import('#modules/gateway/subscribers'),
  maintenance: [purgeUsage],
  async onShutdown() {
    // Settles the last answers did not wait for, and buffered usage, are written before the process exits.
    await quotas.settled()
    await usageRecorder.close()
  },
})
