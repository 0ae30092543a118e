import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import { sse } from '#app/http/sse'
import ConversationPolicy from '#modules/chat/policies/conversation_policy'
import { generations } from '#modules/chat/services/generations'

/** The background work writing a reply: its state, its event stream (resumable), cancel. */
export default class GenerationsController {
  async show(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    return generations.show(actorOf(ctx), ctx.params.id)
  }

  async stream(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    return generations.stream(actorOf(ctx), ctx.params.id, () => sse(ctx))
  }

  async cancel(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    return ctx.response.accepted(await generations.cancel(actorOf(ctx), ctx.params.id))
  }
}
