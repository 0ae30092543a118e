import logger from '@adonisjs/core/services/logger'
import { countersFor, quotas, type Reservation } from '#modules/gateway/services/quotas'
import { latencyHistogram, usageRecorder } from '#modules/gateway/services/usage'
import type { Caller, ResolvedModel } from '#modules/gateway/services/gateway'
import type { ChatParams } from '#modules/gateway/services/upstreams'

/** Reserved for the answer when the request sets no max_tokens. */
export const DEFAULT_OUTPUT_RESERVE = 1024

/** A cheap upper-leaning estimate (≈4 characters per token, plus framing per message); settled later. */
export function estimateTokens(text: string) {
  return Math.ceil(text.length / 4)
}

export function estimatePrompt(messages: ChatParams['messages']) {
  let tokens = 3
  for (const message of messages) {
    const content =
      typeof message.content === 'string' ? message.content : JSON.stringify(message.content ?? '')
    tokens += 4 + estimateTokens(content)
  }
  return tokens
}

/** In millionths of a minor unit: exact, since prices are per million tokens. */
export function costMicro(model: ResolvedModel, promptTokens: number, completionTokens: number) {
  return (
    promptTokens * model.view.pricing.inputPerMTok +
    completionTokens * model.view.pricing.outputPerMTok
  )
}

/** A user's counters are per tenant: their quota in one tenant says nothing of another. */
export const userScopeId = (caller: { tenantId: string; userId?: string | null }) =>
  `${caller.tenantId}:${caller.userId}`

/** Reserves the estimate on the key's and the tenant's counters, or throws the 429. */
export function admit(
  caller: Caller,
  model: ResolvedModel,
  estimate: { promptTokens: number; maxOutput: number }
) {
  // In the counters' own order (key, tenant, user), which countersFor then keeps as it is.
  const scopes: Parameters<typeof countersFor>[0] = []
  if (caller.keyId)
    scopes.push({ scope: 'key' as const, id: caller.keyId, limits: caller.limits ?? {} })
  scopes.push({ scope: 'tenant', id: caller.tenantId, limits: model.tenantLimits })
  if (caller.userId && caller.userLimits)
    scopes.push({ scope: 'user' as const, id: userScopeId(caller), limits: caller.userLimits })
  return quotas.reserve(
    countersFor(scopes, {
      tokens: estimate.promptTokens + estimate.maxOutput,
      costMicro: costMicro(model, estimate.promptTokens, estimate.maxOutput),
    })
  )
}

export interface Outcome {
  kind: 'chat' | 'embeddings'
  deploymentId: string | null
  promptTokens: number
  completionTokens: number
  status: number
  latencyMs: number
  upstreamMs: number
  ttftMs: number | null
  requestId: string | null
}

/**
 * Settles the reservation to what was used and records the request (buffered).
 * A failed call costs nothing. The answer does not wait for the settle to be
 * stored (quotas.ts, `PendingSettles`); one that fails leaves the estimate
 * counted — the counters err towards refusing — and is logged, and the usage
 * record is kept either way.
 */
export function finish(
  caller: Caller,
  model: ResolvedModel,
  reservation: Reservation,
  outcome: Outcome
) {
  const cost = costMicro(model, outcome.promptTokens, outcome.completionTokens)
  quotas
    .settle(reservation, {
      tokens: outcome.promptTokens + outcome.completionTokens,
      costMicro: cost,
    })
    .catch((error) => {
      logger.error(
        { err: error, model: model.alias, tenantId: caller.tenantId },
        'quota settle not stored: the estimate stays counted until the window ends'
      )
    })
  latencyHistogram.observe([model.alias, 'total'], outcome.latencyMs / 1000)
  latencyHistogram.observe([model.alias, 'upstream'], outcome.upstreamMs / 1000)
  latencyHistogram.observe(
    [model.alias, 'overhead'],
    Math.max(0, outcome.latencyMs - outcome.upstreamMs) / 1000
  )
  if (outcome.ttftMs !== null)
    latencyHistogram.observe([model.alias, 'ttft'], outcome.ttftMs / 1000)
  usageRecorder.record({
    tenantId: caller.tenantId,
    keyId: caller.keyId ?? null,
    userId: caller.userId ?? null,
    modelAlias: model.alias,
    deploymentId: outcome.deploymentId,
    kind: outcome.kind,
    promptTokens: outcome.promptTokens,
    completionTokens: outcome.completionTokens,
    costMicro: cost,
    currency: model.view.pricing.currency,
    latencyMs: outcome.latencyMs,
    ttftMs: outcome.ttftMs,
    status: outcome.status,
    requestId: outcome.requestId,
    createdAt: new Date(),
  })
}
