import { defineModule } from '#app/modules/definition'
import routes from '#modules/chat/routes'
import openapi from '#modules/chat/openapi'
import { chatConfig } from '#modules/chat/config'
import { CHAT_WEBHOOK_EVENTS } from '#modules/chat/events'
import { generationRunner } from '#modules/chat/services/runner'
import { closeGenerationLog } from '#modules/chat/services/generation_log'

/** Chat: each member's LLM conversations, answered through the gateway (docs/chat.md). */
export default defineModule({
  name: 'chat',
  routes,
  openapi,
  webhookEvents: CHAT_WEBHOOK_EVENTS,
  config: chatConfig,
  jobs: [
    {
      name: 'chat.generations',
      run: () => generationRunner.pass(),
      nextDueMs: () => generationRunner.nextDueMs(),
    },
  ],
  onShutdown: async () => {
    await generationRunner.stopAll()
    await closeGenerationLog()
  },
})
