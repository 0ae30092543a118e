import type { HttpContext } from '@adonisjs/core/http'
import { principalOf } from '#app/auth/jwt_guard'
import { pageValidator } from '#app/http/pagination'
import { tenantAudit, tenants } from '#modules/identity/services/tenants'
import { createTenantValidator, updateTenantValidator } from '#modules/identity/validators/tenants'

export default class TenantsController {
  async index(ctx: HttpContext) {
    const page = await pageValidator.validate(ctx.request.qs())
    return ctx.response.ok(await tenants.list(principalOf(ctx), page))
  }

  async store(ctx: HttpContext) {
    const { name } = await ctx.request.validateUsing(createTenantValidator)
    return ctx.response.created(await tenants.create(principalOf(ctx), name))
  }

  async show(ctx: HttpContext) {
    return ctx.response.ok(await tenants.show(principalOf(ctx), ctx.params.id))
  }

  async audit(ctx: HttpContext) {
    const page = await pageValidator.validate(ctx.request.qs())
    return ctx.response.ok(await tenantAudit(principalOf(ctx), ctx.params.id, page))
  }

  async update(ctx: HttpContext) {
    const changes = await ctx.request.validateUsing(updateTenantValidator)
    return ctx.response.ok(await tenants.update(principalOf(ctx), ctx.params.id, changes))
  }
}
