import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import ConversationPolicy from '#modules/chat/policies/conversation_policy'
import { chatQuotas } from '#modules/chat/services/quotas'
import { quotaValidator } from '#modules/chat/validators/conversations'

/** Per-user chat limits: each user reads their own; owners and admins set them. */
export default class QuotasController {
  async mine(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    return chatQuotas.mine(actorOf(ctx))
  }

  async index(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('administer')
    return chatQuotas.list(actorOf(ctx))
  }

  async updateDefault(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('administer')
    const input = await ctx.request.validateUsing(quotaValidator)
    return chatQuotas.set(actorOf(ctx), null, input)
  }

  async updateUser(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('administer')
    const input = await ctx.request.validateUsing(quotaValidator)
    return chatQuotas.set(actorOf(ctx), ctx.params.userId, input)
  }
}
