import { defineModule } from '#app/modules/definition'
import routes from '#modules/chat/routes'
import openapi from '#modules/chat/openapi'
import { CHAT_WEBHOOK_EVENTS } from '#modules/chat/events'

/** Chat: each member's LLM conversations, answered through the gateway (docs/chat.md). */
export default defineModule({
  name: 'chat',
  routes,
  openapi,
  webhookEvents: CHAT_WEBHOOK_EVENTS,
})
