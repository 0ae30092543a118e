import type { ChatCompletion } from 'openai/resources/chat/completions'
import type { DateTime } from 'luxon'
import { ProblemException } from '#app/http/problem'
import { tenancy } from '#app/tenancy/tenancy'
import { CONFIG_CHANNEL } from '#modules/gateway/services/change_feed'
import { FeedCache } from '#app/platform/feed_cache'
import { models, type ModelView } from '#modules/gateway/services/models'
import { platformModel, platformModels, platformOffered } from '#modules/gateway/services/platform'
import {
  AllDeploymentsFailed,
  breaker,
  orderDeployments,
  routeCall,
  type Deployment,
} from '#modules/gateway/services/routing'
import {
  UpstreamError,
  type ChatParams,
  type ResponsesBody,
  type Upstream,
  type Usage,
} from '#modules/gateway/services/upstreams'
import type { KeyLimits } from '#modules/gateway/services/keys'

/** Who a gateway call is for: an API key, or a user acting through another module. */
export interface Caller {
  tenantId: string
  userId?: string | null
  keyId?: string | null
  /** null: every model of the tenant. */
  allowedModels?: string[] | null
  /** The key's own quotas (the tenant's come with the model). */
  limits?: KeyLimits
  /** The user's own quotas (chat's per-user limits), counted on the user's counters in every process. */
  userLimits?: KeyLimits
}

/**
 * What a call needs of its alias, copied out of the model row when routing
 * is loaded: the hot path reads plain fields, not an ORM model's proxies,
 * and the cache keeps no model instances.
 */
export interface AliasView {
  strategy: ModelView['strategy']
  unknownParams: ModelView['unknownParams']
  pricing: ModelView['pricing']
}

const aliasView = (model: ModelView): AliasView => ({
  strategy: model.strategy,
  unknownParams: model.unknownParams,
  pricing: model.pricing,
})

export interface ResolvedModel {
  alias: string
  view: AliasView
  deployments: Deployment[]
  /** The tenant-wide quotas, read in the same unit of work. */
  tenantLimits: KeyLimits
}

export interface CallTiming {
  /** Milliseconds spent waiting on upstreams (all attempts). */
  upstreamMs: number
}

function modelNotAllowed(alias: string, byKey: boolean) {
  return new ProblemException(
    403,
    'model_not_allowed',
    `${byKey ? 'This key' : 'You'} may not use the model ${alias}.`
  )
}

function upstreamProblem(error: unknown) {
  if (error instanceof AllDeploymentsFailed) {
    const last = error.lastError
    if (!last) {
      return new ProblemException(
        503,
        'model_unavailable',
        'Every deployment of this model is cooling down after failures; retry shortly.',
        undefined,
        { 'retry-after': '5' }
      )
    }
    if (last.status === 504) {
      return new ProblemException(
        504,
        'upstream_timeout',
        'The model provider did not answer in time.'
      )
    }
    return new ProblemException(502, 'upstream_error', 'The model provider failed to answer.')
  }
  if (error instanceof UpstreamError) {
    // The provider's own words stay in the log: they can name its internals, and the
    // client cannot act on them. Each answer says who can fix what.
    const answered = error.upstreamStatus
    if (answered === 401 || answered === 403) {
      return new ProblemException(
        502,
        'upstream_auth_failed',
        "The model provider refused this tenant's credentials; a tenant admin should check the provider's API key."
      )
    }
    if (answered === 404) {
      return new ProblemException(
        502,
        'upstream_not_found',
        "The model provider has no such endpoint or model (404); a tenant admin should check the provider's base URL (OpenAI-compatible servers usually end in /v1) and the deployment's upstream model."
      )
    }
    if (answered && answered >= 400 && answered < 500) {
      // The upstream refused the request itself (too long for the model, a parameter it lacks).
      return new ProblemException(
        400,
        'upstream_rejected',
        `The model provider refused the request (${answered}): it may be too long for the model or use a parameter the model does not support.`
      )
    }
    return new ProblemException(502, 'upstream_error', 'The model provider failed to answer.')
  }
  return error
}

interface RoutingEntry {
  view: AliasView
  deployments: Deployment[]
  tenantLimits: KeyLimits
}

// A tenant's provider, model or limits changed: drop that tenant's routing.
const routingCache = new FeedCache<RoutingEntry | null>(
  CONFIG_CHANNEL,
  { max: 10_000, ttlMs: 60_000 },
  (tenantId, entries) => entries.deleteWhere((_, cacheKey) => cacheKey.startsWith(`${tenantId}\n`))
)

async function loadRouting(tenantId: string, alias: string): Promise<RoutingEntry | null> {
  return tenancy.run(
    tenantId,
    async (trx) => {
      const view = await models.byAlias(trx, alias)
      const limitsRow = await trx.from('gateway_tenant_limits').where('tenant_id', tenantId).first()
      if (!view) {
        // The tenant's own aliases come first; then `ollama/…`, `openai/…` unless turned off.
        const platform =
          limitsRow?.platform_providers === false ? null : platformModel(tenantId, alias)
        return platform
          ? {
              view: aliasView(platform.view),
              deployments: platform.deployments,
              tenantLimits: (limitsRow?.limits ?? {}) as KeyLimits,
            }
          : null
      }
      return {
        view: aliasView(view),
        deployments: view.deployments.map((deployment) => ({
          id: deployment.id,
          provider: deployment.provider,
          upstreamModel: deployment.upstreamModel,
          weight: deployment.weight,
        })),
        tenantLimits: (limitsRow?.limits ?? {}) as KeyLimits,
      }
    },
    { readOnly: true }
  )
}

/**
 * The caller's view of an alias, with its deployments and providers; 403/404
 * when it may not or does not exist. Routing is cached per process while the
 * change feed listens (admin changes NOTIFY in their transaction), so the hot
 * path reads no configuration from the database.
 */
export async function resolveModel(caller: Caller, alias: string): Promise<ResolvedModel> {
  if (caller.allowedModels && !caller.allowedModels.includes(alias))
    throw modelNotAllowed(alias, Boolean(caller.keyId))
  const entry = await routingCache.read(`${caller.tenantId}\n${alias}`, () =>
    loadRouting(caller.tenantId, alias)
  )
  if (!entry)
    throw new ProblemException(404, 'model_not_found', `The model ${alias} does not exist.`)
  return {
    alias,
    view: entry.view,
    deployments: orderDeployments(entry.view.strategy, entry.deployments),
    tenantLimits: entry.tenantLimits,
  }
}

interface CatalogEntry {
  own: Array<{ alias: string; createdAt: DateTime }>
  platformEnabled: boolean
}

// Clients poll GET /v1/models (chat UIs on every page load); the same changes as routing drop it.
const catalogCache = new FeedCache<CatalogEntry>(
  CONFIG_CHANNEL,
  { max: 10_000, ttlMs: 60_000 },
  (tenantId, entries) => entries.delete(tenantId)
)

function loadCatalog(tenantId: string): Promise<CatalogEntry> {
  return tenancy.run(
    tenantId,
    async (trx) => {
      const own = await models.aliases(trx)
      const settings = await trx
        .from('gateway_tenant_limits')
        .where('tenant_id', tenantId)
        .select('platform_providers')
        .first()
      return { own, platformEnabled: settings?.platform_providers !== false }
    },
    { readOnly: true }
  )
}

/** The models a caller may use (GET /v1/models): the tenant's aliases, then the platform's. */
export async function listModels(caller: Caller) {
  const { own, platformEnabled } = await catalogCache.read(caller.tenantId, () =>
    loadCatalog(caller.tenantId)
  )
  const taken = new Set(own.map((model) => model.alias))
  const offered = platformEnabled && platformOffered(caller.tenantId) ? await platformModels() : []
  const platform = offered.filter((model) => !taken.has(model.alias))
  return [...own, ...platform].filter(
    (model) => !caller.allowedModels || caller.allowedModels.includes(model.alias)
  )
}

function timed<T>(timing: CallTiming, work: () => Promise<T>) {
  const started = performance.now()
  return work().finally(() => (timing.upstreamMs += performance.now() - started))
}

/**
 * One whole call on the model's deployments (retries and fallbacks in
 * routeCall, upstream time counted), its failure as the problem a client gets.
 */
async function routeWhole<Result>(
  model: ResolvedModel,
  signal: AbortSignal,
  timing: CallTiming,
  call: (upstream: Upstream, target: Deployment) => Promise<Result>
) {
  try {
    return await routeCall(model.alias, model.deployments, signal, (upstream, target) =>
      timed(timing, () => call(upstream, target))
    )
  } catch (error) {
    throw upstreamProblem(error)
  }
}

export async function chat(
  model: ResolvedModel,
  params: ChatParams,
  signal: AbortSignal,
  timing: CallTiming = { upstreamMs: 0 }
): Promise<{ completion: ChatCompletion; usage: Usage; deployment: Deployment }> {
  const { result, deployment } = await routeWhole(model, signal, timing, (upstream, target) =>
    upstream.chat(target.upstreamModel, params, signal)
  )
  const usage = result.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }
  return { completion: { ...result, model: model.alias }, usage, deployment }
}

/**
 * Opens a stream on the model's deployments: the first item is awaited inside
 * the router, so a deployment that fails before answering falls back to the
 * next one. After that the stream is committed to its deployment; a later
 * failure reaches the caller as an error from the iterator (and counts
 * against the deployment's breaker).
 */
async function openStream<Item>(
  model: ResolvedModel,
  signal: AbortSignal,
  timing: CallTiming,
  open: (upstream: Upstream, target: Deployment) => AsyncIterable<Item>,
  present: (item: Item) => Item
) {
  try {
    const { result, deployment } = await routeCall(
      model.alias,
      model.deployments,
      signal,
      (upstream, target) =>
        timed(timing, async () => {
          const iterator = open(upstream, target)[Symbol.asyncIterator]()
          const first = await iterator.next()
          return { iterator, first }
        })
    )
    const { iterator, first } = result
    async function* items(): AsyncGenerator<Item> {
      if (!first.done) yield present(first.value)
      for (;;) {
        let next: IteratorResult<Item>
        try {
          next = await iterator.next()
        } catch (error) {
          if (!signal.aborted) breaker.failure(deployment.id)
          throw upstreamProblem(error)
        }
        if (next.done) return
        yield present(next.value)
      }
    }
    return { items: items(), deployment }
  } catch (error) {
    throw upstreamProblem(error)
  }
}

/** A chat stream: OpenAI's chunks with the alias as `model`. */
export async function chatStream(
  model: ResolvedModel,
  params: ChatParams,
  signal: AbortSignal,
  timing: CallTiming = { upstreamMs: 0 }
) {
  const opened = await openStream(
    model,
    signal,
    timing,
    (upstream, target) => upstream.chatStream(target.upstreamModel, params, signal),
    (chunk) => ({ ...chunk, model: model.alias })
  )
  return { chunks: opened.items, deployment: opened.deployment }
}

export async function embed(
  model: ResolvedModel,
  input: string | string[],
  signal: AbortSignal,
  timing: CallTiming = { upstreamMs: 0 }
) {
  const { result, deployment } = await routeWhole(model, signal, timing, (upstream, target) =>
    upstream.embed(target.upstreamModel, input, signal)
  )
  return { ...result, deployment }
}

/** A provider's own /responses, with the same routing, retries and fallbacks as chat. */
export async function responses(
  model: ResolvedModel,
  body: ResponsesBody,
  signal: AbortSignal,
  timing: CallTiming = { upstreamMs: 0 }
) {
  const { result, deployment } = await routeWhole(model, signal, timing, (upstream, target) =>
    upstream.responses(target.upstreamModel, body, signal)
  )
  return { answer: result, deployment }
}

/** A provider's own /responses stream: fallbacks before its first event, as for chat streams. */
export async function responsesStream(
  model: ResolvedModel,
  body: ResponsesBody,
  signal: AbortSignal,
  timing: CallTiming = { upstreamMs: 0 }
) {
  const opened = await openStream(
    model,
    signal,
    timing,
    (upstream, target) => upstream.responsesStream(target.upstreamModel, body, signal),
    (event) => event
  )
  return { events: opened.items, deployment: opened.deployment }
}
