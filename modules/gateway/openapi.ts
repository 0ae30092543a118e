import { combineApis, defineApi, optional, ref, schema as s } from '#app/openapi/define'
import type { OperationSpec } from '#app/openapi/define'
import type { JsonSchema } from '#app/openapi/types'
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
import {
  chatCompletionValidator,
  completionsValidator,
  embeddingsValidator,
  responsesValidator,
} from '#modules/gateway/validators/openai'

type Validator = NonNullable<OperationSpec['query']>

/** List, create, show, change (and delete) of one admin resource. */
function crud(
  path: `/${string}`,
  name: string,
  schemas: { item: string; created?: string; input: Validator; patch: Validator },
  options: { deletable: boolean; conflicts: string }
) {
  const lower = name.toLowerCase()
  const missing = { 404: `${lower}_not_found` }
  const operations: Record<string, OperationSpec> = {
    [`GET ${path}`]: {
      id: `gatewayList${name}s`,
      summary: `The tenant's ${lower}s`,
      ok: { 200: s.listOf(ref(schemas.item)) },
    },
    [`POST ${path}`]: {
      id: `gatewayCreate${name}`,
      summary: `Create a ${lower}`,
      body: schemas.input,
      ok: { 201: ref(schemas.created ?? schemas.item) },
      errors: { 409: options.conflicts },
    },
    [`GET ${path}/{id}`]: {
      id: `gatewayShow${name}`,
      summary: `One ${lower}`,
      ok: { 200: ref(schemas.item) },
      errors: missing,
    },
    [`PATCH ${path}/{id}`]: {
      id: `gatewayUpdate${name}`,
      summary: `Change a ${lower}`,
      body: schemas.patch,
      ok: { 200: ref(schemas.item) },
      errors: { ...missing, 409: options.conflicts },
    },
  }
  if (options.deletable) {
    operations[`DELETE ${path}/{id}`] = {
      id: `gatewayDelete${name}`,
      summary: `Delete a ${lower}`,
      ok: { 204: null },
      errors: { ...missing, 409: `${lower}_in_use` },
    }
  }
  return operations
}

const rateLimited = {
  description:
    'rate_limit_exceeded (requests or tokens per minute, tokens per day) or budget_exceeded',
  content: { 'application/json': { schema: ref('OpenAiError') } },
  headers: Object.fromEntries(
    [
      'retry-after',
      'x-ratelimit-limit-requests',
      'x-ratelimit-remaining-requests',
      'x-ratelimit-reset-requests',
      'x-ratelimit-limit-tokens',
      'x-ratelimit-remaining-tokens',
      'x-ratelimit-reset-tokens',
    ].map((header) => [header, { schema: s.string }])
  ),
}
const upstreamErrors = {
  403: 'model_not_allowed or insufficient_scope',
  404: 'model_not_found',
  429: rateLimited,
  502: 'upstream_error: every deployment failed',
  503: 'model_unavailable: every deployment is cooling down',
  504: 'upstream_timeout',
}
const openAi = { auth: 'apiKey', errorFormat: 'openai' } as const
const answerHeaders = {
  'x-atrium-overhead-ms': { schema: s.string },
  'x-atrium-dropped-params': {
    description: 'Parameters not sent to the provider (the alias policy, or no equivalent there)',
    schema: s.string,
  },
}

const limits = s.object(
  Object.fromEntries(
    ['requestsPerMinute', 'tokensPerMinute', 'tokensPerDay', 'monthlyBudget'].map((name) => [
      name,
      optional({ type: ['integer', 'null'], minimum: 1 }),
    ])
  )
)
const keyFields = {
  id: s.uuid,
  name: s.string,
  prefix: s.described(s.string, 'The first 12 characters, for telling keys apart'),
  userId: s.nullable(s.uuid),
  scopes: { ...s.array(s.enum(['chat', 'embeddings', 'models'])), minItems: 1 } as JsonSchema,
  allowedModels: s.nullable(s.array(s.string)),
  limits,
  metadata: s.record,
  expiresAt: s.nullable(s.dateTime),
  revokedAt: s.nullable(s.dateTime),
  previousSecretValidUntil: s.nullable(s.dateTime),
  lastUsedAt: s.nullable(s.dateTime),
  createdAt: s.dateTime,
  updatedAt: s.dateTime,
}

const admin = defineApi(
  { name: 'gateway', description: 'LLM gateway: providers, model aliases and API keys' },
  {
    ...crud(
      '/api/v1/gateway/providers',
      'Provider',
      { item: 'GatewayProvider', input: providerCreateValidator, patch: providerUpdateValidator },
      { deletable: true, conflicts: 'provider_name_taken' }
    ),
    ...crud(
      '/api/v1/gateway/models',
      'Model',
      { item: 'GatewayModel', input: modelCreateValidator, patch: modelUpdateValidator },
      { deletable: true, conflicts: 'model_alias_taken' }
    ),
    ...crud(
      '/api/v1/gateway/keys',
      'Key',
      {
        item: 'GatewayKey',
        created: 'GatewayKeyWithSecret',
        input: keyCreateValidator,
        patch: keyUpdateValidator,
      },
      { deletable: false, conflicts: 'key_revoked' }
    ),
    'POST /api/v1/gateway/providers/{id}/test': {
      id: 'gatewayTestProvider',
      summary: 'Ask the provider for its models: reachable, key accepted, latency, models seen',
      description:
        'Answers 200 whatever the outcome; `problem` says what to fix (the key, the base URL, the address). The provider’s own answer is never echoed.',
      ok: { 200: ref('GatewayProviderCheck') },
      errors: { 404: 'provider_not_found' },
    },
    'GET /api/v1/gateway/providers/{id}/models': {
      id: 'gatewayProviderModels',
      summary:
        'The models the provider offers (its /models, or Ollama’s /api/tags), to create aliases from',
      ok: { 200: s.listOf(s.object({ id: s.string })) },
      errors: {
        404: 'provider_not_found',
        502: 'provider_unavailable: the detail says what to fix',
      },
    },
    'POST /api/v1/gateway/keys/{id}/rotate': {
      id: 'gatewayRotateKey',
      summary:
        'New secret (shown once); the old one keeps working for gracePeriodSeconds (default 24 h)',
      body: keyRotateValidator,
      ok: { 200: ref('GatewayKeyWithSecret') },
      errors: { 404: 'key_not_found', 409: 'key_revoked' },
    },
    'POST /api/v1/gateway/keys/{id}/revoke': {
      id: 'gatewayRevokeKey',
      summary: 'Revoke a key: refused at once by every process',
      ok: { 200: ref('GatewayKey') },
      errors: { 404: 'key_not_found' },
    },
    'GET /api/v1/gateway/platform-providers': {
      id: 'gatewayPlatformProviders',
      summary:
        'The operator’s providers (OLLAMA_HOST, OPENAI_BASE_URL), served as ollama/<model> and openai/<model>, and whether this tenant uses them',
      ok: { 200: ref('GatewayPlatformProviders') },
    },
    'PUT /api/v1/gateway/platform-providers': {
      id: 'gatewayUpdatePlatformProviders',
      summary: 'Turn the platform providers on or off for this tenant (on by default)',
      body: platformProvidersValidator,
      ok: { 200: ref('GatewayPlatformProviders') },
      errors: { 409: 'platform_providers_not_offered' },
    },
    'GET /api/v1/gateway/limits': {
      id: 'gatewayShowLimits',
      summary: 'The tenant-wide quotas and monthly budget (null or absent: unlimited)',
      ok: { 200: limits },
    },
    'PUT /api/v1/gateway/limits': {
      id: 'gatewayUpdateLimits',
      summary: 'Replace the tenant-wide quotas and monthly budget',
      body: limitsValidator,
      ok: { 200: limits },
    },
    'GET /api/v1/gateway/usage': {
      id: 'gatewayUsage',
      summary: 'Usage per key, model or day, from the daily rollups (default: this month by day)',
      query: usageQueryValidator,
      ok: { 200: ref('GatewayUsageReport') },
    },
  },
  {
    GatewayProvider: s.object({
      id: s.uuid,
      name: s.string,
      kind: s.enum(['ollama', 'openai-compatible']),
      baseUrl: s.string,
      hasApiKey: s.described(s.boolean, 'The key itself is never returned'),
      timeoutMs: s.integer,
      maxRetries: s.integer,
      responsesApi: s.described(
        s.enum(['translate', 'native']),
        '/v1/responses translated to chat completions, or passed to the provider’s own /responses (OpenAI-compatible only)'
      ),
      createdAt: s.dateTime,
      updatedAt: s.dateTime,
    }),
    GatewayPlatformProviders: s.object({
      offered: s.described(
        s.boolean,
        'Whether the operator offers them to this tenant (PLATFORM_PROVIDER_TENANTS); false: none are listed and they cannot be turned on'
      ),
      enabled: s.described(s.boolean, 'This tenant’s own setting'),
      data: s.array(
        s.object({
          name: s.enum(['ollama', 'openai']),
          kind: s.enum(['ollama', 'openai-compatible']),
          prefix: s.described(s.string, 'Aliases <prefix><model> route to this provider'),
          models: s.described(
            s.array(s.string),
            'The aliases it offers now (asked at most once a minute)'
          ),
        })
      ),
    }),
    GatewayProviderCheck: s.object({
      reachable: s.boolean,
      authenticated: s.described(s.nullable(s.boolean), 'null: its answer does not tell'),
      latencyMs: s.nullable(s.integer),
      models: s.array(s.string),
      problem: s.nullable(s.string),
    }),
    GatewayModel: s.object({
      id: s.uuid,
      alias: s.string,
      strategy: s.enum(['priority', 'weighted']),
      unknownParams: s.described(
        s.enum(['forward', 'drop', 'reject']),
        "Request parameters neither Atrium nor OpenAI's API knows: forwarded to the provider, dropped (named in x-atrium-dropped-params) or refused with 400"
      ),
      pricing: s.object({
        inputPerMTok: s.described(s.integer, 'Minor units per million input tokens'),
        outputPerMTok: s.described(s.integer, 'Minor units per million output tokens'),
        currency: s.string,
      }),
      deployments: s.array(
        s.object({
          id: s.uuid,
          providerId: s.uuid,
          providerName: s.string,
          upstreamModel: s.string,
          weight: s.integer,
        })
      ),
      createdAt: s.dateTime,
      updatedAt: s.dateTime,
    }),
    GatewayKey: s.object({
      ...keyFields,
      spendThisMonth: optional(
        s.described(
          s.array(s.object({ amount: s.number, currency: s.string })),
          'Per currency, this calendar month (UTC), in minor units; lists and shows carry it'
        )
      ),
    }),
    GatewayKeyWithSecret: s.object({
      ...keyFields,
      secret: { type: 'string', pattern: '^atr_', description: 'Shown once' },
    }),
    GatewayUsageReport: s.object({
      groupBy: s.enum(['key', 'model', 'day']),
      from: s.string,
      to: s.string,
      data: s.array(
        s.object({
          group: s.described(s.nullable(s.string), 'Key id, model alias or day'),
          label: s.described(
            s.nullable(s.string),
            'What to show: the key’s name, the alias or the day'
          ),
          requests: s.integer,
          errors: s.integer,
          promptTokens: s.integer,
          completionTokens: s.integer,
          cost: s.object({
            amount: s.described(s.number, 'Minor units (fractions kept)'),
            currency: s.string,
          }),
          averageLatencyMs: optional(s.integer),
        })
      ),
    }),
  }
)

const openai = defineApi(
  { name: 'openai', description: 'OpenAI-compatible API, authenticated by a gateway API key' },
  {
    'POST /v1/chat/completions': {
      ...openAi,
      id: 'openaiChatCompletions',
      summary: 'Chat completion (stream: true answers text/event-stream chunks ending in [DONE])',
      body: chatCompletionValidator,
      ok: {
        200: {
          description:
            'A chat.completion, or with stream: true server-sent chat.completion.chunk events',
          headers: answerHeaders,
          content: {
            'application/json': { schema: ref('ChatCompletion') },
            'text/event-stream': { schema: s.string },
          },
        },
      },
      errors: {
        400: 'invalid_request_error: malformed body, unknown or invalid fields',
        ...upstreamErrors,
      },
    },
    'POST /v1/completions': {
      ...openAi,
      id: 'openaiCompletions',
      summary:
        'Legacy text completion, served by the alias’s chat deployments (the prompt is one user message)',
      body: completionsValidator,
      ok: {
        200: {
          description:
            'A text_completion, or with stream: true server-sent text_completion chunks ending in [DONE]',
          headers: answerHeaders,
          content: {
            'application/json': { schema: ref('TextCompletion') },
            'text/event-stream': { schema: s.string },
          },
        },
      },
      errors: {
        400: 'invalid_request_error: malformed body, suffix or logprobs',
        ...upstreamErrors,
      },
    },
    'POST /v1/responses': {
      ...openAi,
      id: 'openaiCreateResponse',
      summary:
        'Responses API, translated to the alias’s chat deployments (stream: true answers typed events: response.created … response.completed)',
      body: responsesValidator,
      ok: {
        200: {
          description: 'A response, or with stream: true its server-sent events',
          headers: answerHeaders,
          content: {
            'application/json': { schema: ref('OpenAiResponse') },
            'text/event-stream': { schema: s.string },
          },
        },
      },
      errors: {
        ...upstreamErrors,
        400: 'invalid_request_error or unsupported_parameter (hosted tools, background, conversation, prompt, files)',
        404: 'model_not_found, response_not_found (previous_response_id) or item_not_found (item_reference)',
      },
    },
    'GET /v1/responses/{id}': {
      ...openAi,
      id: 'openaiShowResponse',
      summary: 'A stored response (this key’s, within 30 days)',
      ok: { 200: ref('OpenAiResponse') },
      errors: { 404: 'response_not_found' },
    },
    'DELETE /v1/responses/{id}': {
      ...openAi,
      id: 'openaiDeleteResponse',
      summary: 'Delete a stored response',
      ok: {
        200: s.object({ id: s.string, object: { const: 'response' }, deleted: { const: true } }),
      },
      errors: { 404: 'response_not_found' },
    },
    'POST /v1/embeddings': {
      ...openAi,
      id: 'openaiEmbeddings',
      summary: 'Embeddings for a string or a list of strings',
      body: embeddingsValidator,
      ok: { 200: ref('EmbeddingList') },
      errors: { 400: 'invalid_request_error', ...upstreamErrors },
    },
    'GET /v1/models': {
      ...openAi,
      id: 'openaiListModels',
      summary: 'The model aliases this key may use',
      ok: { 200: ref('ModelList') },
      errors: { 403: 'insufficient_scope' },
    },
    'GET /v1/models/{model}': {
      ...openAi,
      id: 'openaiShowModel',
      summary: 'One model alias, if this key may use it',
      ok: { 200: ref('OpenAiModel') },
      errors: { 403: 'insufficient_scope', 404: 'model_not_found' },
    },
  },
  {
    // OpenAI's own shapes: open objects, since OpenAI adds fields clients must tolerate.
    OpenAiError: {
      type: 'object',
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['message', 'type', 'code'],
          properties: {
            message: s.string,
            type: s.string,
            param: s.nullable(s.string),
            code: s.nullable(s.string),
          },
        },
      },
    },
    ChatCompletion: {
      type: 'object',
      required: ['id', 'object', 'created', 'model', 'choices'],
      properties: {
        id: s.string,
        object: { const: 'chat.completion' },
        created: s.integer,
        model: s.string,
        choices: s.array(s.record),
        usage: {
          type: 'object',
          properties: {
            prompt_tokens: s.integer,
            completion_tokens: s.integer,
            total_tokens: s.integer,
          },
        },
      },
    },
    TextCompletion: {
      type: 'object',
      required: ['id', 'object', 'created', 'model', 'choices'],
      properties: {
        id: s.string,
        object: { const: 'text_completion' },
        created: s.integer,
        model: s.string,
        choices: s.array(s.record),
        usage: s.record,
      },
    },
    OpenAiResponse: {
      type: 'object',
      required: ['id', 'object', 'created_at', 'status', 'model', 'output'],
      properties: {
        id: s.string,
        object: { const: 'response' },
        created_at: s.integer,
        status: s.enum(['completed', 'incomplete', 'in_progress', 'failed']),
        model: s.string,
        output: s.array(s.record),
        previous_response_id: s.nullable(s.string),
        store: s.boolean,
        usage: s.nullable(s.record),
      },
    },
    EmbeddingList: {
      type: 'object',
      required: ['object', 'data', 'model', 'usage'],
      properties: {
        object: { const: 'list' },
        data: s.array({
          type: 'object',
          required: ['object', 'index', 'embedding'],
          properties: {
            object: { const: 'embedding' },
            index: s.integer,
            embedding: {
              oneOf: [s.array(s.number), s.described(s.string, 'base64 of little-endian float32')],
            },
          },
        }),
        model: s.string,
        usage: s.record,
      },
    },
    OpenAiModel: s.object({
      id: s.string,
      object: { const: 'model' },
      created: s.integer,
      owned_by: s.string,
    }),
    ModelList: {
      type: 'object',
      required: ['object', 'data'],
      properties: { object: { const: 'list' }, data: s.array(ref('OpenAiModel')) },
    },
  }
)

export default combineApis(admin, openai)
