import env from '#start/env'
import logger from '@adonisjs/core/services/logger'
import { ProblemException } from '#app/http/problem'
import { backoffMs } from '#app/platform/job_queue'
import { Gauge, Counter } from 'prom-client'
import { LabelledHistogram } from '#app/observability/labelled_metrics'
import { metricsRegistry } from '#app/observability/metrics'
import type Provider from '#modules/gateway/models/provider'
import { UpstreamError, upstreamFor, type Upstream } from '#modules/gateway/services/upstreams'

export interface Deployment {
  id: string
  provider: Provider
  upstreamModel: string
  weight: number
}

const deploymentState = new Gauge({
  name: 'gateway_deployment_up',
  help: 'Whether a deployment takes traffic (1) or is cooling down after failures (0), in this process',
  labelNames: ['deployment'] as const,
  registers: [metricsRegistry],
})

export const fallbacksTotal = new Counter({
  name: 'gateway_fallbacks_total',
  help: 'Requests answered by a deployment other than the first one tried',
  labelNames: ['model'] as const,
  registers: [metricsRegistry],
})

// Observed on every attempt: labelled_metrics.ts says why not prom-client's Histogram.
const upstreamDuration = new LabelledHistogram({
  name: 'gateway_upstream_duration_seconds',
  help: 'Each attempt at a deployment until it answered (its first chunk, for streams) or failed',
  labelNames: ['deployment', 'provider', 'outcome'],
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  registers: [metricsRegistry],
})

const upstreamErrors = new Counter({
  name: 'gateway_upstream_errors_total',
  help: 'Failed attempts at a deployment, by the status it answered or the transport error (ECONNREFUSED, TIMEOUT, REFUSED)',
  labelNames: ['deployment', 'provider', 'code'] as const,
  registers: [metricsRegistry],
})

/**
 * Per-process circuit breaker: a deployment that fails `threshold` times
 * within the window is skipped for the cooldown, then tried again. Each
 * process learns on its own (no shared state to fail with it).
 */
class Breaker {
  #failures = new Map<string, number[]>()
  #openUntil = new Map<string, number>()

  get #settings() {
    return {
      threshold: env.get('GATEWAY_BREAKER_THRESHOLD') ?? 5,
      windowMs: (env.get('GATEWAY_BREAKER_WINDOW_SECONDS') ?? 60) * 1000,
      cooldownMs: (env.get('GATEWAY_BREAKER_COOLDOWN_SECONDS') ?? 30) * 1000,
    }
  }

  isOpen(id: string) {
    const until = this.#openUntil.get(id)
    if (!until) return false
    if (until > Date.now()) return true
    this.#openUntil.delete(id)
    this.#failures.delete(id)
    deploymentState.set({ deployment: id }, 1)
    return false
  }

  failure(id: string) {
    const { threshold, windowMs, cooldownMs } = this.#settings
    const now = Date.now()
    const recent = (this.#failures.get(id) ?? []).filter((at) => at > now - windowMs)
    recent.push(now)
    this.#failures.set(id, recent)
    if (recent.length >= threshold) {
      this.#openUntil.set(id, now + cooldownMs)
      deploymentState.set({ deployment: id }, 0)
    }
  }

  success(id: string) {
    this.#failures.delete(id)
    deploymentState.set({ deployment: id }, 1)
  }

  /** Tests: forget everything. */
  reset() {
    this.#failures.clear()
    this.#openUntil.clear()
  }
}

export const breaker = new Breaker()

/** priority: in order. weighted: a weighted random order, the rest as fallbacks. */
export function orderDeployments(strategy: 'priority' | 'weighted', deployments: Deployment[]) {
  if (strategy === 'priority') return [...deployments]
  const pool = [...deployments]
  const ordered: Deployment[] = []
  while (pool.length) {
    const total = pool.reduce((sum, entry) => sum + Math.max(0, entry.weight), 0)
    let pick = Math.random() * total
    let index = pool.findIndex((entry) => (pick -= Math.max(0, entry.weight)) < 0)
    if (index < 0) index = 0
    ordered.push(pool.splice(index, 1)[0])
  }
  return ordered
}

/**
 * The client disconnected mid-request: 499 (nginx's name for it), logged as a
 * client abort, never as a provider failure or a server error.
 */
export class ClientClosedRequest extends ProblemException {
  constructor() {
    super(499, 'client_closed_request', 'The client closed the request before the answer.')
  }
}

/** Host and port only: a base URL may carry a path, never credentials (refused when stored). */
function providerHost(baseUrl: string) {
  try {
    return new URL(baseUrl).host
  } catch {
    return 'invalid URL'
  }
}

export class AllDeploymentsFailed extends Error {
  constructor(readonly lastError: UpstreamError | null) {
    super('every deployment failed')
  }
}

/**
 * Runs `call` against the model's deployments: retries a retryable failure
 * on the same deployment (provider.maxRetries, exponential backoff or the
 * upstream's retry-after up to 2 s), then falls back to the next one; skips
 * deployments cooling down. A non-retryable error (the upstream refused the
 * request itself) is thrown as is: another deployment would refuse it too.
 */
export async function routeCall<T>(
  alias: string,
  deployments: Deployment[],
  signal: AbortSignal,
  call: (upstream: Upstream, deployment: Deployment) => Promise<T>
): Promise<{ result: T; deployment: Deployment }> {
  let lastError: UpstreamError | null = null
  let tried = 0
  for (const deployment of deployments) {
    if (breaker.isOpen(deployment.id)) continue
    if (tried++ > 0) fallbacksTotal.inc({ model: alias })
    const upstream = upstreamFor(deployment.provider)
    const host = providerHost(deployment.provider.baseUrl)
    for (let attempt = 0; ; attempt++) {
      const started = performance.now()
      const elapsed = () => (performance.now() - started) / 1000
      try {
        const result = await call(upstream, deployment)
        upstreamDuration.observe([deployment.id, host, 'ok'], elapsed())
        breaker.success(deployment.id)
        return { result, deployment }
      } catch (error) {
        const failure =
          error instanceof UpstreamError ? error : new UpstreamError(String(error), 502, true)
        // The caller left: not the provider's failure, and nobody is waiting for an answer.
        if (signal.aborted) throw new ClientClosedRequest()
        const code = failure.code ?? (failure.status === 504 ? 'TIMEOUT' : null)
        upstreamDuration.observe([deployment.id, host, 'error'], elapsed())
        upstreamErrors.inc({
          deployment: deployment.id,
          provider: host,
          code: String(failure.upstreamStatus ?? code ?? 'unknown'),
        })
        logger.warn(
          {
            model: alias,
            deployment: deployment.id,
            provider: host,
            status: failure.upstreamStatus,
            code,
            attempt: attempt + 1,
          },
          'upstream call failed'
        )
        if (!failure.retryable) throw failure
        breaker.failure(deployment.id)
        lastError = failure
        if (attempt >= deployment.provider.maxRetries || breaker.isOpen(deployment.id)) break
        // The upstream's Retry-After when it gave one, else the platform's backoff; a caller waits, so briefly.
        const backoff = failure.retryAfterMs ?? backoffMs(attempt + 1, { baseMs: 100, maxMs: 2000 })
        await new Promise((resolve) => setTimeout(resolve, Math.min(backoff, 2000)))
      }
    }
  }
  throw new AllDeploymentsFailed(lastError)
}
