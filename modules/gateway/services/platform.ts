/*
| Platform providers: the model servers the operator names in the environment
| (OLLAMA_HOST; OPENAI_BASE_URL and OPENAI_API_KEY), offered to every tenant
| as `ollama/<model>` and `openai/<model>` without any setup, unless a tenant
| admin turns them off. They are not rows: each process builds them from its
| environment, and their upstream model is the part after the prefix.
*/
import logger from '@adonisjs/core/services/logger'
import { DateTime } from 'luxon'
import env from '#start/env'
import GatewayModel from '#modules/gateway/models/gateway_model'
import Provider from '#modules/gateway/models/provider'
import { operatorProviders, upstreamFor } from '#modules/gateway/services/upstreams'

export type PlatformName = 'ollama' | 'openai'

export interface PlatformProvider {
  name: PlatformName
  /** Aliases `<prefix><upstream model>` route here. */
  prefix: string
  /** Stands for the provider and its one deployment in usage records and metrics. */
  id: string
  provider: Provider
}

/** Fixed, so usage records and metrics name the same platform deployment in every process. */
const PLATFORM_IDS: Record<PlatformName, string> = {
  ollama: '00000000-0000-4000-8000-00000000a001',
  openai: '00000000-0000-4000-8000-00000000a002',
}
const OPENAI_DEFAULT_BASE = 'https://api.openai.com/v1'
const DISCOVERY_TTL_MS = 60_000
const DISCOVERY_TIMEOUT_MS = 5_000

let built: { signature: string; list: PlatformProvider[] } | null = null

function make(
  name: PlatformName,
  kind: Provider['kind'],
  baseUrl: string,
  apiKey: string | null
): PlatformProvider {
  const provider = new Provider().merge({
    id: PLATFORM_IDS[name],
    tenantId: '',
    name: `platform ${name}`,
    kind,
    baseUrl,
    timeoutMs: 60_000,
    maxRetries: 1,
    // OpenAI itself has the Responses API (hosted tools, reasoning items); other servers mostly not.
    responsesApi: new URL(baseUrl).hostname === 'api.openai.com' ? 'native' : 'translate',
  })
  provider.apiKey = apiKey
  provider.updatedAt = DateTime.now()
  operatorProviders.add(provider)
  return { name, prefix: `${name}/`, id: PLATFORM_IDS[name], provider }
}

/** A Secret as the environment validator made it, or a plain string set later with env.set. */
function secretOf(value: { release(): string } | string | undefined): string | null {
  if (typeof value === 'string') return value || null
  return value?.release() || null
}

/**
 * Whether the operator offers the platform providers to this tenant:
 * PLATFORM_PROVIDER_TENANTS unset means every tenant (each admin may still
 * turn them off); set, only the tenants it lists — a tenant admin cannot
 * turn on what the operator pays for and did not offer.
 */
export function platformOffered(tenantId: string) {
  const listed = env.get('PLATFORM_PROVIDER_TENANTS')
  if (!listed) return true
  return listed
    .split(',')
    .map((entry) => entry.trim().toLowerCase())
    .includes(tenantId.toLowerCase())
}

/** The platform providers this process's environment names (rebuilt when it changes). */
export function platformProviders(): PlatformProvider[] {
  const ollamaHost = env.get('OLLAMA_HOST')
  const openaiKey = secretOf(env.get('OPENAI_API_KEY'))
  // OpenAI's own SDKs default to api.openai.com when only a key is set; so does Atrium.
  const openaiBase = env.get('OPENAI_BASE_URL') ?? (openaiKey ? OPENAI_DEFAULT_BASE : undefined)
  const signature = JSON.stringify([ollamaHost, openaiBase, openaiKey])
  if (built?.signature === signature) return built.list
  const list: PlatformProvider[] = []
  if (ollamaHost) list.push(make('ollama', 'ollama', ollamaHost, null))
  if (openaiBase) list.push(make('openai', 'openai-compatible', openaiBase, openaiKey))
  built = { signature, list }
  discovered.clear()
  return list
}

/** The platform provider and upstream model an alias names, if it is a platform alias. */
export function platformRoute(alias: string) {
  for (const platform of platformProviders()) {
    if (alias.startsWith(platform.prefix) && alias.length > platform.prefix.length) {
      return { platform, upstreamModel: alias.slice(platform.prefix.length) }
    }
  }
  return null
}

/**
 * The routing view of a platform alias: priced at zero (the operator pays;
 * tokens still count against the tenant's and the key's limits), one
 * deployment, parameters forwarded.
 */
export function platformModel(tenantId: string, alias: string) {
  if (!platformOffered(tenantId)) return null
  const route = platformRoute(alias)
  if (!route) return null
  const view = new GatewayModel().merge({
    id: route.platform.id,
    tenantId,
    alias,
    strategy: 'priority',
    unknownParams: 'forward',
    inputPricePerMtok: 0,
    outputPricePerMtok: 0,
    currency: 'USD',
  })
  view.createdAt = route.platform.provider.updatedAt
  return {
    view,
    deployments: [
      {
        id: route.platform.id,
        provider: route.platform.provider,
        upstreamModel: route.upstreamModel,
        weight: 1,
      },
    ],
  }
}

const discovered = new Map<PlatformName, { at: number; models: string[] }>()

/**
 * What each platform provider offers, asked at most once a minute per
 * process; a provider that does not answer offers nothing (logged), so
 * /v1/models still answers.
 */
export async function platformModels(): Promise<Array<{ alias: string; createdAt: DateTime }>> {
  const lists = await Promise.all(
    platformProviders().map(async (platform) => {
      const cached = discovered.get(platform.name)
      if (cached && Date.now() - cached.at < DISCOVERY_TTL_MS) return { platform, ...cached }
      let models: string[] = []
      try {
        models = await upstreamFor(platform.provider).listModels(
          AbortSignal.timeout(DISCOVERY_TIMEOUT_MS)
        )
      } catch (error) {
        logger.warn(
          { provider: platform.name, err: (error as Error).message },
          'platform provider did not list its models'
        )
      }
      const entry = { at: Date.now(), models: [...new Set(models)].sort() }
      discovered.set(platform.name, entry)
      return { platform, ...entry }
    })
  )
  return lists.flatMap(({ platform, models }) =>
    models.map((model) => ({
      alias: `${platform.prefix}${model}`,
      createdAt: platform.provider.updatedAt,
    }))
  )
}
