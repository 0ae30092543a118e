import Provider from '#modules/gateway/models/provider'
import { UpstreamError, upstreamFor } from '#modules/gateway/services/upstreams'

/** Never longer than this, whatever the provider's own timeout: an admin is waiting. */
const CHECK_TIMEOUT_MS = 15_000

/** What an admin learns from testing a provider. */
export interface ProviderCheck {
  /** It answered at all. */
  reachable: boolean
  /** It accepted the key (null: cannot tell from its answer). */
  authenticated: boolean | null
  latencyMs: number | null
  models: string[]
  /** Why not, in words an admin can act on; never the upstream's own body. */
  problem: string | null
}

/**
 * Asks the provider for its models (`GET <base>/models`, Ollama's
 * `/api/tags`): that one call proves the address, the key and the base URL,
 * and lists what aliases can route to. Runs outside any unit of work.
 */
export async function checkProvider(provider: Provider): Promise<ProviderCheck> {
  const started = performance.now()
  const signal = AbortSignal.timeout(Math.min(provider.timeoutMs, CHECK_TIMEOUT_MS))
  try {
    const models = await upstreamFor(provider).listModels(signal)
    return {
      reachable: true,
      authenticated: true,
      latencyMs: Math.round(performance.now() - started),
      models: [...new Set(models)].sort(),
      problem: null,
    }
  } catch (error) {
    const latencyMs = Math.round(performance.now() - started)
    return { ...diagnose(error, provider), latencyMs, models: [] }
  }
}

function diagnose(error: unknown, provider: Provider): Omit<ProviderCheck, 'latencyMs' | 'models'> {
  const failure = error instanceof UpstreamError ? error : null
  const answered = failure?.upstreamStatus ?? null
  if (answered === 401 || answered === 403) {
    return {
      reachable: true,
      authenticated: false,
      problem: `The provider refused the API key (${answered}): set or replace it.`,
    }
  }
  if (answered === 404) {
    const hint =
      provider.kind === 'ollama'
        ? 'Ollama takes the bare host, e.g. http://127.0.0.1:11434'
        : 'OpenAI-compatible servers usually end in /v1, e.g. https://api.example.com/v1'
    return {
      reachable: true,
      authenticated: null,
      problem: `The provider has no models endpoint at this base URL (404): check the base URL (${hint}).`,
    }
  }
  if (answered !== null) {
    return {
      reachable: true,
      authenticated: null,
      problem: `The provider answered ${answered} when asked for its models.`,
    }
  }
  if (failure?.code === 'REFUSED') {
    return {
      reachable: false,
      authenticated: null,
      problem:
        'Destination not allowed: the base URL resolves to a local or private address (see OUTBOUND_ALLOWLIST).',
    }
  }
  if (failure?.status === 504) {
    return {
      reachable: false,
      authenticated: null,
      problem: 'The provider did not answer in time.',
    }
  }
  const code = failure?.code ? ` (${failure.code})` : ''
  return { reachable: false, authenticated: null, problem: `The provider is unreachable${code}.` }
}

/** How many stored providers the doctor checks at once, and at most. */
const DOCTOR_CONCURRENCY = 4
const DOCTOR_LIMIT = 200

export interface StoredProviderCheck extends ProviderCheck {
  tenantId: string
  name: string
  kind: Provider['kind']
  /** Host and port only: a base URL's path and the key stay out of reports. */
  host: string
}

/**
 * Every tenant's stored providers, tested as `POST …/providers/:id/test`
 * does (for `atrium:doctor`; reads across tenants, so never from a request).
 */
export async function checkStoredProviders(): Promise<{
  checks: StoredProviderCheck[]
  total: number
}> {
  const [counted] = await Provider.query().count('* as total')
  const total = Number(counted.$extras.total)
  const stored = await Provider.query().orderBy(['tenant_id', 'name']).limit(DOCTOR_LIMIT)
  const checks: StoredProviderCheck[] = []
  const queue = [...stored]
  await Promise.all(
    Array.from({ length: DOCTOR_CONCURRENCY }, async () => {
      for (let provider = queue.shift(); provider; provider = queue.shift()) {
        checks.push({
          tenantId: provider.tenantId,
          name: provider.name,
          kind: provider.kind,
          host: hostOf(provider.baseUrl),
          ...(await checkProvider(provider)),
        })
      }
    })
  )
  checks.sort((a, b) => a.tenantId.localeCompare(b.tenantId) || a.name.localeCompare(b.name))
  return { checks, total }
}

function hostOf(baseUrl: string) {
  try {
    return new URL(baseUrl).host
  } catch {
    return 'invalid URL'
  }
}
