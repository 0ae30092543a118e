import type { HttpContext } from '@adonisjs/core/http'
import { principalOf } from '#app/auth/jwt_guard'
import { pageValidator } from '#app/http/pagination'
import { admin } from '#modules/identity/services/admin'
import { userPatchValidator, userSearchValidator } from '#modules/identity/validators/admin'

export default class AdminController {
  async users(ctx: HttpContext) {
    const search = await userSearchValidator.validate(ctx.request.qs())
    return ctx.response.ok(await admin.users(principalOf(ctx), search))
  }

  async updateUser(ctx: HttpContext) {
    const { disabled } = await ctx.request.validateUsing(userPatchValidator)
    return ctx.response.ok(await admin.setDisabled(principalOf(ctx), ctx.params.id, disabled))
  }

  async tenants(ctx: HttpContext) {
    const page = await pageValidator.validate(ctx.request.qs())
    return ctx.response.ok(await admin.tenants(principalOf(ctx), page))
  }
}
