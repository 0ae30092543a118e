import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import ConversationPolicy from '#modules/chat/policies/conversation_policy'
import { conversations } from '#modules/chat/services/conversations'
import {
  createConversationValidator,
  listConversationsValidator,
  updateConversationValidator,
} from '#modules/chat/validators/conversations'

/** The caller's own conversations: authorize → validate → call the service → answer. */
export default class ConversationsController {
  async index(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const filters = await listConversationsValidator.validate(ctx.request.qs())
    return conversations.list(actorOf(ctx), filters)
  }

  async store(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const input = await ctx.request.validateUsing(createConversationValidator)
    return ctx.response.created(await conversations.create(actorOf(ctx), input))
  }

  async show(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    return conversations.show(actorOf(ctx), ctx.params.id)
  }

  async update(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const input = await ctx.request.validateUsing(updateConversationValidator)
    return conversations.update(actorOf(ctx), ctx.params.id, input)
  }

  async destroy(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    await conversations.remove(actorOf(ctx), ctx.params.id)
    return ctx.response.noContent()
  }
}
