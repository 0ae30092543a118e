import type { ApiClient } from '@japa/api-client'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import OpenAI from 'openai'
import { registerUser } from '#tests/helpers/identity'
import { usageRecorder } from '#modules/gateway/services/usage'

export type Session = Awaited<ReturnType<typeof registerUser>>

export async function resetGateway() {
  // Usage buffered by an earlier test would land after the truncate otherwise.
  await usageRecorder.flush()
  await db.rawQuery(
    `TRUNCATE gateway_keys, gateway_deployments, gateway_models, gateway_providers,
              gateway_quota_counters, gateway_tenant_limits, gateway_usage, gateway_usage_daily,
              gateway_responses CASCADE`
  )
}

export function gatewayBase() {
  return `http://127.0.0.1:${env.get('PORT')}`
}

/** The official SDK as a client of Atrium's /v1, no retries unless a test wants them. */
export function openaiClient(apiKey: string, options: { maxRetries?: number } = {}) {
  return new OpenAI({
    apiKey,
    baseURL: `${gatewayBase()}/v1`,
    maxRetries: options.maxRetries ?? 0,
    timeout: 10_000,
  })
}

/** The error a chat call with `secret` on `model` ends with, or null when it succeeds. */
export function chatError(secret: string, model = 'chat-default') {
  return openaiClient(secret)
    .chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] })
    .then(
      () => null,
      (error: unknown) => error
    )
}

export async function createProvider(
  client: ApiClient,
  owner: Session,
  input: Record<string, unknown>
) {
  const response = await client
    .post('/api/v1/gateway/providers')
    .bearerToken(owner.tokens.accessToken)
    .json({ maxRetries: 0, timeoutMs: 2000, ...input })
  if (response.status() !== 201)
    throw new Error(`provider: ${response.status()} ${response.text()}`)
  return response.body() as { id: string }
}

export async function createModel(
  client: ApiClient,
  owner: Session,
  input: Record<string, unknown>
) {
  const response = await client
    .post('/api/v1/gateway/models')
    .bearerToken(owner.tokens.accessToken)
    .json(input)
  if (response.status() !== 201) throw new Error(`model: ${response.status()} ${response.text()}`)
  return response.body() as { id: string; alias: string }
}

export async function createKey(
  client: ApiClient,
  owner: Session,
  input: Record<string, unknown> = {}
) {
  const response = await client
    .post('/api/v1/gateway/keys')
    .bearerToken(owner.tokens.accessToken)
    .json({ name: 'test key', ...input })
  if (response.status() !== 201) throw new Error(`key: ${response.status()} ${response.text()}`)
  return response.body() as { id: string; secret: string; prefix: string }
}

/** An owner with one provider pointing at `upstreamUrl`, an alias `chat-default` routed to it, and a key. */
export async function gatewayTenant(
  client: ApiClient,
  upstream: { url: string; kind?: 'openai-compatible' | 'ollama' },
  keyInput: Record<string, unknown> = {}
) {
  const owner = await registerUser(client)
  const kind = upstream.kind ?? 'openai-compatible'
  const provider = await createProvider(client, owner, {
    name: 'primary',
    kind,
    baseUrl: kind === 'ollama' ? upstream.url : `${upstream.url}/v1`,
    apiKey: 'sk-upstream-secret-123',
  })
  const model = await createModel(client, owner, {
    alias: 'chat-default',
    deployments: [{ providerId: provider.id, upstreamModel: 'fake-model-1' }],
  })
  const key = await createKey(client, owner, keyInput)
  return { owner, provider, model, key }
}
