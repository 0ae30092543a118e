import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import ConversationPolicy from '#modules/chat/policies/conversation_policy'
import { assistants } from '#modules/chat/services/assistants'
import {
  createAssistantValidator,
  exploreValidator,
  featureValidator,
  listAssistantsValidator,
  updateAssistantValidator,
} from '#modules/chat/validators/conversations'

/** Assistants (every member makes their own and shares them) and the explore catalog. */
export default class AssistantsController {
  async index(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const input = await listAssistantsValidator.validate(ctx.request.qs())
    return assistants.list(actorOf(ctx), input)
  }

  async store(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const input = await ctx.request.validateUsing(createAssistantValidator)
    return ctx.response.created(await assistants.create(actorOf(ctx), input))
  }

  async show(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    return assistants.show(actorOf(ctx), ctx.params.id)
  }

  async update(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const input = await ctx.request.validateUsing(updateAssistantValidator)
    return assistants.update(actorOf(ctx), ctx.params.id, input)
  }

  async destroy(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    await assistants.remove(actorOf(ctx), ctx.params.id)
    return ctx.response.noContent()
  }

  async fork(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    return ctx.response.created(await assistants.fork(actorOf(ctx), ctx.params.id))
  }

  async favourite(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    await assistants.favourite(actorOf(ctx), ctx.params.id, true)
    return ctx.response.noContent()
  }

  async unfavourite(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    await assistants.favourite(actorOf(ctx), ctx.params.id, false)
    return ctx.response.noContent()
  }

  async feature(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('administer')
    const { featured } = await ctx.request.validateUsing(featureValidator)
    return assistants.feature(actorOf(ctx), ctx.params.id, featured)
  }

  async explore(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const input = await exploreValidator.validate(ctx.request.qs())
    return assistants.explore(actorOf(ctx), input)
  }

  async categories(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    return assistants.categories(actorOf(ctx))
  }
}
