import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import ConversationPolicy from '#modules/chat/policies/conversation_policy'
import { chatAdmin } from '#modules/chat/services/admin'
import {
  adminUsageValidator,
  chatSettingsValidator,
  myUsageValidator,
} from '#modules/chat/validators/conversations'

/** Usage (your own; the tenant's for admins), chat settings and audited admin reads. */
export default class ChatAdminController {
  async myUsage(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('use')
    const input = await myUsageValidator.validate(ctx.request.qs())
    return chatAdmin.myUsage(actorOf(ctx), input)
  }

  async usage(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('administer')
    const input = await adminUsageValidator.validate(ctx.request.qs())
    return chatAdmin.usage(actorOf(ctx), input)
  }

  async settings(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('administer')
    return chatAdmin.settings(actorOf(ctx))
  }

  async saveSettings(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('administer')
    const input = await ctx.request.validateUsing(chatSettingsValidator)
    return chatAdmin.saveSettings(actorOf(ctx), input)
  }

  async userConversations(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('administer')
    return chatAdmin.userConversations(actorOf(ctx), ctx.params.userId)
  }

  async conversation(ctx: HttpContext) {
    await ctx.bouncer.with(ConversationPolicy).authorize('administer')
    return chatAdmin.conversation(actorOf(ctx), ctx.params.id)
  }
}
