import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { inGatewayTenant } from '#modules/gateway/services/admin_access'
import { checkProvider } from '#modules/gateway/services/diagnostics'
import { keys, type KeyInput, type KeyLimits } from '#modules/gateway/services/keys'
import { models, type ModelInput } from '#modules/gateway/services/models'
import {
  platformModels,
  platformOffered,
  platformProviders,
} from '#modules/gateway/services/platform'
import { providers, type ProviderInput } from '#modules/gateway/services/providers'
import { tenantLimits, usageReport } from '#modules/gateway/services/reports'

const DEFAULT_GRACE_SECONDS = 24 * 3600
const config = { changesConfig: true }
/** A use case that only reads: one round trip a statement, no COMMIT (tenancy.ts, readOnly). */
const reads = { readOnly: true }

/**
 * The gateway's settings as the API manages them, each its own unit of work
 * in the actor's tenant (GatewayPolicy has decided who may). Changes to
 * routing tell every process to drop its cached routing when they commit.
 */
export const gatewayAdmin = {
  listProviders: (actor: TenantActor) =>
    inGatewayTenant(actor, (trx) => providers.list(trx), reads),
  createProvider: (actor: TenantActor, input: ProviderInput) =>
    inGatewayTenant(actor, (trx, tenantId) => providers.create(trx, tenantId, input), config),
  showProvider: (actor: TenantActor, id: string) =>
    inGatewayTenant(
      actor,
      async (trx) => {
        const provider = await providers.find(trx, id)
        return provider.serialize()
      },
      reads
    ),
  updateProvider: (actor: TenantActor, id: string, input: Partial<ProviderInput>) =>
    inGatewayTenant(actor, (trx) => providers.update(trx, id, input), config),
  deleteProvider: (actor: TenantActor, id: string) =>
    inGatewayTenant(actor, (trx) => providers.remove(trx, id), config),
  /** Read in a unit of work, then called outside it: a slow provider holds no transaction. */
  async testProvider(actor: TenantActor, id: string) {
    const provider = await inGatewayTenant(actor, (trx) => providers.find(trx, id), reads)
    return checkProvider(provider)
  },
  async providerModels(actor: TenantActor, id: string) {
    const check = await this.testProvider(actor, id)
    if (check.problem) throw new ProblemException(502, 'provider_unavailable', check.problem)
    return { data: check.models.map((name) => ({ id: name })) }
  },

  listModels: (actor: TenantActor) => inGatewayTenant(actor, (trx) => models.list(trx), reads),
  createModel: (actor: TenantActor, input: ModelInput) =>
    inGatewayTenant(actor, (trx, tenantId) => models.create(trx, tenantId, input), config),
  showModel: (actor: TenantActor, id: string) =>
    inGatewayTenant(actor, (trx) => models.get(trx, id), reads),
  updateModel: (actor: TenantActor, id: string, input: Partial<ModelInput>) =>
    inGatewayTenant(actor, (trx, tenantId) => models.update(trx, tenantId, id, input), config),
  deleteModel: (actor: TenantActor, id: string) =>
    inGatewayTenant(actor, (trx) => models.remove(trx, id), config),

  listKeys: (actor: TenantActor) => inGatewayTenant(actor, (trx) => keys.list(trx), reads),
  createKey: (actor: TenantActor, input: KeyInput) =>
    inGatewayTenant(actor, (trx, tenantId) => keys.create(trx, tenantId, input, actor.userId)),
  showKey: (actor: TenantActor, id: string) =>
    inGatewayTenant(actor, (trx) => keys.show(trx, id), reads),
  updateKey: (actor: TenantActor, id: string, input: Partial<KeyInput>) =>
    inGatewayTenant(actor, (trx) => keys.update(trx, id, input)),
  rotateKey: (actor: TenantActor, id: string, gracePeriodSeconds?: number) =>
    inGatewayTenant(actor, (trx) =>
      keys.rotate(trx, id, gracePeriodSeconds ?? DEFAULT_GRACE_SECONDS)
    ),
  revokeKey: (actor: TenantActor, id: string) =>
    inGatewayTenant(actor, (trx) => keys.revoke(trx, id)),

  showLimits: (actor: TenantActor) =>
    inGatewayTenant(actor, (trx, tenantId) => tenantLimits.get(trx, tenantId), reads),
  updateLimits: (actor: TenantActor, limits: KeyLimits) =>
    inGatewayTenant(actor, (trx, tenantId) => tenantLimits.put(trx, tenantId, limits), config),

  /**
   * The operator's providers (from the environment) and whether this tenant
   * uses them; the models each offers are asked outside any unit of work.
   */
  async platformProviders(actor: TenantActor) {
    const enabled = await inGatewayTenant(
      actor,
      (trx, tenantId) => tenantLimits.platformEnabled(trx, tenantId),
      reads
    )
    // A tenant the operator does not offer them to learns that much, not what the operator runs.
    if (!platformOffered(actor.tenantId)) return { offered: false, enabled, data: [] }
    const offered = await platformModels()
    return {
      offered: true,
      enabled,
      data: platformProviders().map((platform) => ({
        name: platform.name,
        kind: platform.provider.kind,
        prefix: platform.prefix,
        models: offered
          .filter((model) => model.alias.startsWith(platform.prefix))
          .map((model) => model.alias),
      })),
    }
  },
  async setPlatformProviders(actor: TenantActor, enabled: boolean) {
    if (enabled && !platformOffered(actor.tenantId)) {
      throw new ProblemException(
        409,
        'platform_providers_not_offered',
        'The operator does not offer the platform providers to this tenant (PLATFORM_PROVIDER_TENANTS); they can only be turned off here.'
      )
    }
    await inGatewayTenant(
      actor,
      (trx, tenantId) => tenantLimits.setPlatformEnabled(trx, tenantId, enabled),
      config
    )
    return this.platformProviders(actor)
  },

  /** Usage between two days (inclusive), this month by default. */
  async usage(
    actor: TenantActor,
    query: { groupBy?: 'day' | 'model' | 'key'; from?: string; to?: string }
  ) {
    const today = new Date().toISOString().slice(0, 10)
    const from = query.from ?? `${today.slice(0, 8)}01`
    const to = query.to ?? today
    const groupBy = query.groupBy ?? 'day'
    const data = await inGatewayTenant(
      actor,
      (trx) => usageReport(trx, { groupBy, from, to }),
      reads
    )
    return { groupBy, from, to, data }
  },
}
