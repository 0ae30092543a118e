import { benchSession } from './processes.js'

/**
 * What a gateway bench calls with: a provider on the fake upstream at
 * `upstreamPort`, a priced alias and a key, with 8 limited counters (the key's
 * and the tenant's four limits, high enough never to refuse), as
 * bench:gateway sets up. Names carry the run's time, so the bench account
 * (`account`) can be reused run after run.
 */
export async function gatewayBenchKey(
  base: string,
  upstreamPort: number,
  account: { email: string; tenantName: string; prefix: string }
) {
  const session = await benchSession(base, account)
  const send = async (route: string, input: unknown, method = 'POST') => {
    const response = await fetch(`${base}${route}`, {
      method,
      headers: {
        'content-type': 'application/json',
        'authorization': `Bearer ${session.tokens.accessToken}`,
      },
      body: JSON.stringify(input),
    })
    if (!response.ok) throw new Error(`${route} answered ${response.status}`)
    // Bench setup answers are read loosely; their shapes are tested elsewhere.
    return response.json() as Promise<Record<string, any>>
  }
  const run = Date.now().toString(36)
  const provider = await send('/api/v1/gateway/providers', {
    name: `fake ${run}`,
    kind: 'openai-compatible',
    baseUrl: `http://127.0.0.1:${upstreamPort}/v1`,
    maxRetries: 0,
  })
  const alias = `${account.prefix}-${run}`
  await send('/api/v1/gateway/models', {
    alias,
    inputPricePerMTok: 100,
    outputPricePerMTok: 300,
    deployments: [{ providerId: provider.id, upstreamModel: 'bench-model' }],
  })
  const limits = {
    requestsPerMinute: 1e9,
    tokensPerMinute: 1e9,
    tokensPerDay: 1e9,
    monthlyBudget: 1e9,
  }
  await send('/api/v1/gateway/limits', limits, 'PUT')
  const key = await send('/api/v1/gateway/keys', { name: `${account.prefix} ${run}`, limits })
  return { secret: key.secret as string, alias }
}
