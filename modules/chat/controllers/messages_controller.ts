import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import { sse } from '#app/http/sse'
import ConversationPolicy from '#modules/chat/policies/conversation_policy'
import { generations } from '#modules/chat/services/generations'
import { messages } from '#modules/chat/services/messages'
import {
  activeLeafValidator,
  forkValidator,
  regenerateValidator,
  sendMessageValidator,
} from '#modules/chat/validators/conversations'

const wantsStream = (ctx: HttpContext) =>
  (ctx.request.header('accept') ?? '').includes('text/event-stream')

/** A conversation's message tree, sending and the replies' generations. */
export default class MessagesController {
  async index(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    return messages.activePath(actorOf(ctx), ctx.params.id)
  }

  async tree(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    return messages.tree(actorOf(ctx), ctx.params.id)
  }

  /** 202 with the ids at once; with Accept: text/event-stream, the reply's stream in this response. */
  async store(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const input = await ctx.request.validateUsing(sendMessageValidator)
    const actor = actorOf(ctx)
    const result = await generations.send(actor, ctx.params.id, input)
    if (wantsStream(ctx)) return generations.streamAccepted(actor, result, () => sse(ctx))
    return ctx.response.accepted(result)
  }

  async regenerate(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const input = await ctx.request.validateUsing(regenerateValidator)
    const actor = actorOf(ctx)
    const result = await generations.regenerate(actor, ctx.params.id, ctx.params.messageId, input)
    if (wantsStream(ctx)) return generations.streamAccepted(actor, result, () => sse(ctx))
    return ctx.response.accepted(result)
  }

  async activeLeaf(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const { messageId } = await ctx.request.validateUsing(activeLeafValidator)
    return messages.setActiveLeaf(actorOf(ctx), ctx.params.id, messageId)
  }

  async fork(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const { fromMessageId } = await ctx.request.validateUsing(forkValidator)
    return ctx.response.created(await messages.fork(actorOf(ctx), ctx.params.id, fromMessageId))
  }
}
