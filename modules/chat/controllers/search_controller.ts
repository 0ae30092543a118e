import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import ConversationPolicy from '#modules/chat/policies/conversation_policy'
import { searchMessages } from '#modules/chat/services/search'
import { searchValidator } from '#modules/chat/validators/conversations'

/** Full-text search over the caller's own messages. */
export default class SearchController {
  async index(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const input = await searchValidator.validate(ctx.request.qs())
    return searchMessages(actorOf(ctx), input)
  }
}
