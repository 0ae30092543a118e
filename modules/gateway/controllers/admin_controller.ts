import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import GatewayPolicy from '#modules/gateway/policies/gateway_policy'
import { inGatewayTenant } from '#modules/gateway/services/admin_access'
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
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return { data: await inGatewayTenant(actorOf(ctx), (trx) => providers.list(trx)) }
  }

  async createProvider(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(providerCreateValidator)
    const created = await inGatewayTenant(
      actorOf(ctx),
      (trx, tenantId) => providers.create(trx, tenantId, input),
      { changesConfig: true }
    )
    return ctx.response.created(created)
  }

  async showProvider(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return inGatewayTenant(actorOf(ctx), async (trx) =>
      presentProvider(await providers.find(trx, ctx.params.id))
    )
  }

  async updateProvider(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(providerUpdateValidator)
    return inGatewayTenant(actorOf(ctx), (trx) => providers.update(trx, ctx.params.id, input), {
      changesConfig: true,
    })
  }

  async deleteProvider(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    await inGatewayTenant(actorOf(ctx), (trx) => providers.remove(trx, ctx.params.id), {
      changesConfig: true,
    })
    return ctx.response.noContent()
  }

  async listModels(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return { data: await inGatewayTenant(actorOf(ctx), (trx) => models.list(trx)) }
  }

  async createModel(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(modelCreateValidator)
    const created = await inGatewayTenant(
      actorOf(ctx),
      (trx, tenantId) => models.create(trx, tenantId, input),
      { changesConfig: true }
    )
    return ctx.response.created(created)
  }

  async showModel(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return inGatewayTenant(actorOf(ctx), (trx) => models.get(trx, ctx.params.id))
  }

  async updateModel(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(modelUpdateValidator)
    return inGatewayTenant(
      actorOf(ctx),
      (trx, tenantId) => models.update(trx, tenantId, ctx.params.id, input),
      { changesConfig: true }
    )
  }

  async deleteModel(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    await inGatewayTenant(actorOf(ctx), (trx) => models.remove(trx, ctx.params.id), {
      changesConfig: true,
    })
    return ctx.response.noContent()
  }

  async listKeys(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return { data: await inGatewayTenant(actorOf(ctx), (trx) => keys.list(trx)) }
  }

  async createKey(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(keyCreateValidator)
    const actor = actorOf(ctx)
    const created = await inGatewayTenant(actor, (trx, tenantId) =>
      keys.create(trx, tenantId, input, actor.userId)
    )
    return ctx.response.created(created)
  }

  async showKey(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return inGatewayTenant(actorOf(ctx), async (trx) =>
      presentKey(await keys.find(trx, ctx.params.id))
    )
  }

  async updateKey(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(keyUpdateValidator)
    return inGatewayTenant(actorOf(ctx), (trx) => keys.update(trx, ctx.params.id, input))
  }

  async rotateKey(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(keyRotateValidator)
    return inGatewayTenant(actorOf(ctx), (trx) =>
      keys.rotate(trx, ctx.params.id, input.gracePeriodSeconds ?? DEFAULT_GRACE_SECONDS)
    )
  }

  async revokeKey(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return inGatewayTenant(actorOf(ctx), (trx) => keys.revoke(trx, ctx.params.id))
  }

  async showLimits(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return inGatewayTenant(actorOf(ctx), (trx, tenantId) => tenantLimits.get(trx, tenantId))
  }

  async updateLimits(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(limitsValidator)
    return inGatewayTenant(
      actorOf(ctx),
      (trx, tenantId) => tenantLimits.put(trx, tenantId, input),
      { changesConfig: true }
    )
  }

  async usage(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const query = await usageQueryValidator.validate(ctx.request.qs())
    const today = new Date().toISOString().slice(0, 10)
    const from = query.from ?? `${today.slice(0, 8)}01`
    const to = query.to ?? today
    const data = await inGatewayTenant(actorOf(ctx), (trx) =>
      usageReport(trx, { groupBy: query.groupBy ?? 'day', from, to })
    )
    return { groupBy: query.groupBy ?? 'day', from, to, data }
  }
}
