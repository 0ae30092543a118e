import type { HttpContext } from '@adonisjs/core/http'
import { principalOf } from '#app/auth/jwt_guard'
import { pageValidator } from '#app/http/pagination'
import { tenants } from '#modules/identity/services/tenants'
import { addMemberValidator, changeRoleValidator } from '#modules/identity/validators/tenants'

export default class MembersController {
  async index(ctx: HttpContext) {
    const page = await pageValidator.validate(ctx.request.qs())
    return ctx.response.ok(await tenants.members(principalOf(ctx), ctx.params.id, page))
  }

  async store(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(addMemberValidator)
    const outcome = await tenants.addMember(principalOf(ctx), ctx.params.id, input)
    // An unverified account is invited (by mail) rather than added: 202, nothing joined yet.
    if ('invited' in outcome) return ctx.response.accepted({ invitation: outcome.invited })
    return ctx.response.created(outcome.added)
  }

  async update(ctx: HttpContext) {
    const { role } = await ctx.request.validateUsing(changeRoleValidator)
    return ctx.response.ok(
      await tenants.changeRole(principalOf(ctx), ctx.params.id, ctx.params.userId, role)
    )
  }

  async destroy(ctx: HttpContext) {
    await tenants.removeMember(principalOf(ctx), ctx.params.id, ctx.params.userId)
    return ctx.response.noContent()
  }
}
