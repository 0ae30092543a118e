import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import GatewayPolicy from '#modules/gateway/policies/gateway_policy'
import { gatewayAdmin } from '#modules/gateway/services/admin'
import {
  keyCreateValidator,
  keyRotateValidator,
  keyUpdateValidator,
  limitsValidator,
  modelCreateValidator,
  modelUpdateValidator,
  platformProvidersValidator,
  providerCreateValidator,
  providerUpdateValidator,
  usageQueryValidator,
} from '#modules/gateway/validators/admin'

/**
 * Providers, model aliases, API keys, limits and usage of the caller's active
 * tenant: every action is for owners and admins (GatewayPolicy).
 */
export default class GatewayAdminController {
  async listProviders(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const actor = actorOf(ctx)
    return { data: await gatewayAdmin.listProviders(actor) }
  }

  async createProvider(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(providerCreateValidator)
    const actor = actorOf(ctx)
    return ctx.response.created(await gatewayAdmin.createProvider(actor, input))
  }

  /** The operator's providers (OLLAMA_HOST, OPENAI_BASE_URL), their models, and whether this tenant uses them. */
  async platformProviders(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return gatewayAdmin.platformProviders(actorOf(ctx))
  }

  async updatePlatformProviders(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const { enabled } = await ctx.request.validateUsing(platformProvidersValidator)
    return gatewayAdmin.setPlatformProviders(actorOf(ctx), enabled)
  }

  /** Reachable, key accepted, latency and models seen — 200 even when the answer is no. */
  async testProvider(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return gatewayAdmin.testProvider(actorOf(ctx), ctx.params.id)
  }

  /** What the provider offers, to create aliases from; 502 with the cause when it cannot say. */
  async providerModels(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    return gatewayAdmin.providerModels(actorOf(ctx), ctx.params.id)
  }

  async showProvider(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const actor = actorOf(ctx)
    return gatewayAdmin.showProvider(actor, ctx.params.id)
  }

  async updateProvider(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(providerUpdateValidator)
    const actor = actorOf(ctx)
    return gatewayAdmin.updateProvider(actor, ctx.params.id, input)
  }

  async deleteProvider(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const actor = actorOf(ctx)
    await gatewayAdmin.deleteProvider(actor, ctx.params.id)
    return ctx.response.noContent()
  }

  async listModels(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const actor = actorOf(ctx)
    return { data: await gatewayAdmin.listModels(actor) }
  }

  async createModel(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(modelCreateValidator)
    const actor = actorOf(ctx)
    return ctx.response.created(await gatewayAdmin.createModel(actor, input))
  }

  async showModel(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const actor = actorOf(ctx)
    return gatewayAdmin.showModel(actor, ctx.params.id)
  }

  async updateModel(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(modelUpdateValidator)
    const actor = actorOf(ctx)
    return gatewayAdmin.updateModel(actor, ctx.params.id, input)
  }

  async deleteModel(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const actor = actorOf(ctx)
    await gatewayAdmin.deleteModel(actor, ctx.params.id)
    return ctx.response.noContent()
  }

  async listKeys(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const actor = actorOf(ctx)
    return { data: await gatewayAdmin.listKeys(actor) }
  }

  async createKey(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(keyCreateValidator)
    const actor = actorOf(ctx)
    return ctx.response.created(await gatewayAdmin.createKey(actor, input))
  }

  async showKey(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const actor = actorOf(ctx)
    return gatewayAdmin.showKey(actor, ctx.params.id)
  }

  async updateKey(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(keyUpdateValidator)
    const actor = actorOf(ctx)
    return gatewayAdmin.updateKey(actor, ctx.params.id, input)
  }

  async rotateKey(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(keyRotateValidator)
    const actor = actorOf(ctx)
    return gatewayAdmin.rotateKey(actor, ctx.params.id, input.gracePeriodSeconds)
  }

  async revokeKey(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const actor = actorOf(ctx)
    return gatewayAdmin.revokeKey(actor, ctx.params.id)
  }

  async showLimits(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const actor = actorOf(ctx)
    return gatewayAdmin.showLimits(actor)
  }

  async updateLimits(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(limitsValidator)
    const actor = actorOf(ctx)
    return gatewayAdmin.updateLimits(actor, input)
  }

  async usage(ctx: HttpContext) {
    await ctx.bouncer.with(GatewayPolicy).authorize('manage')
    const input = await usageQueryValidator.validate(ctx.request.qs())
    const actor = actorOf(ctx)
    return gatewayAdmin.usage(actor, input)
  }
}
