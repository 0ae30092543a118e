import type { HttpContext } from '@adonisjs/core/http'
import { principalOf } from '#app/auth/jwt_guard'
import { invitations } from '#modules/identity/services/invitations'
import { acceptInvitationValidator, inviteValidator } from '#modules/identity/validators/tenants'

export default class InvitationsController {
  async index(ctx: HttpContext) {
    return ctx.response.ok(await invitations.pending(principalOf(ctx), ctx.params.id))
  }

  async store(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(inviteValidator)
    return ctx.response.created(await invitations.create(principalOf(ctx), ctx.params.id, input))
  }

  async destroy(ctx: HttpContext) {
    await invitations.revoke(principalOf(ctx), ctx.params.id, ctx.params.invitationId)
    return ctx.response.noContent()
  }

  async accept(ctx: HttpContext) {
    const { token } = await ctx.request.validateUsing(acceptInvitationValidator)
    return ctx.response.ok(await invitations.accept(principalOf(ctx), token))
  }
}
