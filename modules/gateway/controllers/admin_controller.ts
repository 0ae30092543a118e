import type { HttpContext } from '@adonisjs/core/http'
import { principalOf } from '#app/auth/jwt_guard'
import { asTenantAdmin } from '#modules/gateway/services/admin_access'
import { providers, presentProvider } from '#modules/gateway/services/providers'
import { models } from '#modules/gateway/services/models'
import { keys, presentKey } from '#modules/gateway/services/keys'
import { tenantLimits, usageReport } from '#modules/gateway/services/reports'
import {
  keyCreateValidator,
  keyRotateValidator,
  keyUpdateValidator,
  limitsValidator,
  usageQueryValidator,
  modelCreateValidator,
  modelUpdateValidator,
  providerCreateValidator,
  providerUpdateValidator,
} from '#modules/gateway/validators/admin'

const DEFAULT_GRACE_SECONDS = 24 * 3600

/** Providers, model aliases and API keys of the caller's active tenant (owners and admins). */
export default class GatewayAdminController {
  async listProviders(ctx: HttpContext) {
    return { data: await asTenantAdmin(principalOf(ctx), (trx) => providers.list(trx)) }
  }

  async createProvider(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(providerCreateValidator)
    const created = await asTenantAdmin(
      principalOf(ctx),
      (trx, tenantId) => providers.create(trx, tenantId, input),
      { changesConfig: true }
    )
    return ctx.response.created(created)
  }

  async showProvider(ctx: HttpContext) {
    return asTenantAdmin(principalOf(ctx), async (trx) =>
      presentProvider(await providers.find(trx, ctx.params.id))
    )
  }

  async updateProvider(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(providerUpdateValidator)
    return asTenantAdmin(principalOf(ctx), (trx) => providers.update(trx, ctx.params.id, input), {
      changesConfig: true,
    })
  }

  async deleteProvider(ctx: HttpContext) {
    await asTenantAdmin(principalOf(ctx), (trx) => providers.remove(trx, ctx.params.id), {
      changesConfig: true,
    })
    return ctx.response.noContent()
  }

  async listModels(ctx: HttpContext) {
    return { data: await asTenantAdmin(principalOf(ctx), (trx) => models.list(trx)) }
  }

  async createModel(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(modelCreateValidator)
    const created = await asTenantAdmin(
      principalOf(ctx),
      (trx, tenantId) => models.create(trx, tenantId, input),
      { changesConfig: true }
    )
    return ctx.response.created(created)
  }

  async showModel(ctx: HttpContext) {
    return asTenantAdmin(principalOf(ctx), (trx) => models.get(trx, ctx.params.id))
  }

  async updateModel(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(modelUpdateValidator)
    return asTenantAdmin(
      principalOf(ctx),
      (trx, tenantId) => models.update(trx, tenantId, ctx.params.id, input),
      { changesConfig: true }
    )
  }

  async deleteModel(ctx: HttpContext) {
    await asTenantAdmin(principalOf(ctx), (trx) => models.remove(trx, ctx.params.id), {
      changesConfig: true,
    })
    return ctx.response.noContent()
  }

  async listKeys(ctx: HttpContext) {
    return { data: await asTenantAdmin(principalOf(ctx), (trx) => keys.list(trx)) }
  }

  async createKey(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(keyCreateValidator)
    const created = await asTenantAdmin(principalOf(ctx), (trx, tenantId) =>
      keys.create(trx, tenantId, input)
    )
    return ctx.response.created(created)
  }

  async showKey(ctx: HttpContext) {
    return asTenantAdmin(principalOf(ctx), async (trx) =>
      presentKey(await keys.find(trx, ctx.params.id))
    )
  }

  async updateKey(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(keyUpdateValidator)
    return asTenantAdmin(principalOf(ctx), (trx) => keys.update(trx, ctx.params.id, input))
  }

  async rotateKey(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(keyRotateValidator)
    return asTenantAdmin(principalOf(ctx), (trx) =>
      keys.rotate(trx, ctx.params.id, input.gracePeriodSeconds ?? DEFAULT_GRACE_SECONDS)
    )
  }

  async revokeKey(ctx: HttpContext) {
    return asTenantAdmin(principalOf(ctx), (trx) => keys.revoke(trx, ctx.params.id))
  }

  async showLimits(ctx: HttpContext) {
    return asTenantAdmin(principalOf(ctx), (trx, tenantId) => tenantLimits.get(trx, tenantId))
  }

  async updateLimits(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(limitsValidator)
    return asTenantAdmin(
      principalOf(ctx),
      (trx, tenantId) => tenantLimits.put(trx, tenantId, input),
      { changesConfig: true }
    )
  }

  async usage(ctx: HttpContext) {
    const query = await usageQueryValidator.validate(ctx.request.qs())
    const today = new Date().toISOString().slice(0, 10)
    const from = query.from ?? `${today.slice(0, 8)}01`
    const to = query.to ?? today
    const data = await asTenantAdmin(principalOf(ctx), (trx) =>
      usageReport(trx, { groupBy: query.groupBy ?? 'day', from, to })
    )
    return { groupBy: query.groupBy ?? 'day', from, to, data }
  }
}
