import type { HttpContext } from '@adonisjs/core/http'
import { principalOf } from '#app/auth/jwt_guard'
import { tenantAudit, tenants } from '#modules/identity/services/tenants'
import { createTenantValidator, updateTenantValidator } from '#modules/identity/validators/tenants'

export default class TenantsController {
  async index(ctx: HttpContext) {
    return ctx.response.ok(await tenants.list(ctx, principalOf(ctx)))
  }

  async store(ctx: HttpContext) {
    const { name } = await ctx.request.validateUsing(createTenantValidator)
    return ctx.response.created(await tenants.create(principalOf(ctx), name))
  }

  async show(ctx: HttpContext) {
    return ctx.response.ok(await tenants.show(principalOf(ctx), ctx.params.id))
  }

  async audit(ctx: HttpContext) {
    return ctx.response.ok(await tenantAudit(ctx, principalOf(ctx), ctx.params.id))
  }

  async update(ctx: HttpContext) {
    const changes = await ctx.request.validateUsing(updateTenantValidator)
    return ctx.response.ok(await tenants.update(principalOf(ctx), ctx.params.id, changes))
  }
}
