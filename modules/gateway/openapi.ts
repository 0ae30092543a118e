import type { OpenApiFragment, Operation } from '#app/openapi/types'
import { json, ref, response } from '#app/openapi/components'
import { requestBody } from '#app/openapi/from_validators'
import {
  keyCreateValidator,
  keyRotateValidator,
  keyUpdateValidator,
  limitsValidator,
  modelCreateValidator,
  modelUpdateValidator,
  providerCreateValidator,
  providerUpdateValidator,
} from '#modules/gateway/validators/admin'

/** A compiled VineJS validator: request schemas come from it. */
type SchemaSource = Parameters<typeof requestBody>[0]

const bearer = [{ bearer: [] }]
const apiKey = [{ apiKey: [] }]
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' } }
const body = (schema: string) => ({
  required: true,
  content: { 'application/json': { schema: ref(schema) } },
})
const listOf = (schema: string) => ({
  type: 'object',
  required: ['data'],
  properties: { data: { type: 'array', items: ref(schema) } },
  additionalProperties: false,
})
const adminErrors = {
  401: response('Unauthorized'),
  403: { ...response('Forbidden'), description: 'forbidden or no_active_tenant' },
}
const openAiError = (description: string) => json(ref('OpenAiError'), description)
const dateTime = { type: 'string', format: 'date-time' }
const rateLimited = {
  ...openAiError(
    'rate_limit_exceeded (requests or tokens per minute, tokens per day) or budget_exceeded'
  ),
  headers: {
    'retry-after': { schema: { type: 'integer' } },
    'x-ratelimit-limit-requests': { schema: { type: 'string' } },
    'x-ratelimit-remaining-requests': { schema: { type: 'string' } },
    'x-ratelimit-reset-requests': { schema: { type: 'string' } },
    'x-ratelimit-limit-tokens': { schema: { type: 'string' } },
    'x-ratelimit-remaining-tokens': { schema: { type: 'string' } },
    'x-ratelimit-reset-tokens': { schema: { type: 'string' } },
  },
}
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' }

/** The CRUD operations of one admin resource. */
function crud(
  path: string,
  name: string,
  schemas: { item: string; input: SchemaSource; patch: SchemaSource },
  extra: Record<string, unknown> = {}
) {
  const single = `${path}/{id}`
  const op = (operation: Operation) => ({ tags: ['gateway'], security: bearer, ...operation })
  return {
    [path]: {
      get: op({
        operationId: `gatewayList${name}s`,
        summary: `List the tenant's ${name.toLowerCase()}s`,
        responses: { 200: json(listOf(schemas.item)), ...adminErrors },
      }),
      post: op({
        operationId: `gatewayCreate${name}`,
        summary: `Create a ${name.toLowerCase()}`,
        requestBody: requestBody(schemas.input),
        responses: {
          201: json(ref(extra.created ? String(extra.created) : schemas.item), 'Created'),
          ...adminErrors,
          409: response('Conflict'),
          422: response('ValidationFailed'),
        },
      }),
    },
    [single]: {
      get: op({
        operationId: `gatewayShow${name}`,
        summary: `Get a ${name.toLowerCase()}`,
        parameters: [id],
        responses: { 200: json(ref(schemas.item)), ...adminErrors, 404: response('NotFound') },
      }),
      patch: op({
        operationId: `gatewayUpdate${name}`,
        summary: `Change a ${name.toLowerCase()}`,
        parameters: [id],
        requestBody: requestBody(schemas.patch),
        responses: {
          200: json(ref(schemas.item)),
          ...adminErrors,
          404: response('NotFound'),
          409: response('Conflict'),
          422: response('ValidationFailed'),
        },
      }),
      ...(extra.noDelete
        ? {}
        : {
            delete: op({
              operationId: `gatewayDelete${name}`,
              summary: `Delete a ${name.toLowerCase()}`,
              parameters: [id],
              responses: {
                204: { description: 'Deleted' },
                ...adminErrors,
                404: response('NotFound'),
                409: response('Conflict'),
              },
            }),
          }),
    },
  }
}

const limits = {
  type: 'object',
  properties: Object.fromEntries(
    ['requestsPerMinute', 'tokensPerMinute', 'tokensPerDay', 'monthlyBudget'].map((name) => [
      name,
      { type: ['integer', 'null'], minimum: 1 },
    ])
  ),
  additionalProperties: false,
}
const scopes = { type: 'array', items: { enum: ['chat', 'embeddings', 'models'] }, minItems: 1 }

const keyProperties = {
  id: { type: 'string', format: 'uuid' },
  name: { type: 'string' },
  prefix: { type: 'string', description: 'The first 12 characters, for telling keys apart' },
  userId: { type: ['string', 'null'], format: 'uuid' },
  scopes,
  allowedModels: { type: ['array', 'null'], items: { type: 'string' } },
  limits,
  metadata: { type: 'object' },
  expiresAt: nullableDateTime,
  revokedAt: nullableDateTime,
  previousSecretValidUntil: nullableDateTime,
  lastUsedAt: nullableDateTime,
  createdAt: dateTime,
  updatedAt: dateTime,
}

const fragment: OpenApiFragment = {
  tags: [
    { name: 'gateway', description: 'LLM gateway: providers, model aliases and API keys' },
    { name: 'openai', description: 'OpenAI-compatible API, authenticated by a gateway API key' },
  ],
  paths: {
    ...crud('/api/v1/gateway/providers', 'Provider', {
      item: 'GatewayProvider',
      input: providerCreateValidator,
      patch: providerUpdateValidator,
    }),
    ...crud('/api/v1/gateway/models', 'Model', {
      item: 'GatewayModel',
      input: modelCreateValidator,
      patch: modelUpdateValidator,
    }),
    ...crud(
      '/api/v1/gateway/keys',
      'Key',
      { item: 'GatewayKey', input: keyCreateValidator, patch: keyUpdateValidator },
      { created: 'GatewayKeyWithSecret', noDelete: true }
    ),
    '/api/v1/gateway/keys/{id}/rotate': {
      post: {
        operationId: 'gatewayRotateKey',
        summary:
          'New secret (shown once); the old one keeps working for gracePeriodSeconds (default 24 h)',
        tags: ['gateway'],
        security: bearer,
        parameters: [id],
        requestBody: { ...requestBody(keyRotateValidator), required: false },
        responses: {
          200: json(ref('GatewayKeyWithSecret')),
          ...adminErrors,
          404: response('NotFound'),
          409: { ...response('Conflict'), description: 'key_revoked' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/gateway/keys/{id}/revoke': {
      post: {
        operationId: 'gatewayRevokeKey',
        summary: 'Revoke a key: refused at once by every process',
        tags: ['gateway'],
        security: bearer,
        parameters: [id],
        responses: { 200: json(ref('GatewayKey')), ...adminErrors, 404: response('NotFound') },
      },
    },
    '/api/v1/gateway/limits': {
      get: {
        operationId: 'gatewayShowLimits',
        summary: 'The tenant-wide quotas and monthly budget (null or absent: unlimited)',
        tags: ['gateway'],
        security: bearer,
        responses: { 200: json(limits), ...adminErrors },
      },
      put: {
        operationId: 'gatewayUpdateLimits',
        summary: 'Replace the tenant-wide quotas and monthly budget',
        tags: ['gateway'],
        security: bearer,
        requestBody: requestBody(limitsValidator),
        responses: { 200: json(limits), ...adminErrors, 422: response('ValidationFailed') },
      },
    },
    '/api/v1/gateway/usage': {
      get: {
        operationId: 'gatewayUsage',
        summary: 'Usage per key, model or day, from the daily rollups (default: this month by day)',
        tags: ['gateway'],
        security: bearer,
        parameters: [
          { name: 'groupBy', in: 'query', schema: { enum: ['key', 'model', 'day'] } },
          { name: 'from', in: 'query', schema: { type: 'string', format: 'date' } },
          { name: 'to', in: 'query', schema: { type: 'string', format: 'date' } },
        ],
        responses: {
          200: json(ref('GatewayUsageReport')),
          ...adminErrors,
          422: response('ValidationFailed'),
        },
      },
    },
    '/v1/chat/completions': {
      post: {
        operationId: 'openaiChatCompletions',
        summary: 'Chat completion (stream: true answers text/event-stream chunks ending in [DONE])',
        tags: ['openai'],
        security: apiKey,
        requestBody: body('ChatCompletionRequest'),
        responses: {
          200: {
            description:
              'A chat.completion, or with stream: true server-sent chat.completion.chunk events',
            headers: { 'x-atrium-overhead-ms': { schema: { type: 'string' } } },
            content: {
              'application/json': { schema: ref('ChatCompletion') },
              'text/event-stream': { schema: { type: 'string' } },
            },
          },
          400: openAiError('invalid_request_error: malformed body, unknown or invalid fields'),
          401: openAiError('invalid_api_key'),
          403: openAiError('model_not_allowed or insufficient_scope'),
          404: openAiError('model_not_found'),
          429: rateLimited,
          502: openAiError('upstream_error: every deployment failed'),
          503: openAiError('model_unavailable: every deployment is cooling down'),
          504: openAiError('upstream_timeout'),
        },
      },
    },
    '/v1/embeddings': {
      post: {
        operationId: 'openaiEmbeddings',
        summary: 'Embeddings for a string or a list of strings',
        tags: ['openai'],
        security: apiKey,
        requestBody: body('EmbeddingRequest'),
        responses: {
          200: json(ref('EmbeddingList')),
          400: openAiError('invalid_request_error'),
          401: openAiError('invalid_api_key'),
          403: openAiError('model_not_allowed or insufficient_scope'),
          404: openAiError('model_not_found'),
          429: rateLimited,
          502: openAiError('upstream_error'),
          503: openAiError('model_unavailable'),
          504: openAiError('upstream_timeout'),
        },
      },
    },
    '/v1/models': {
      get: {
        operationId: 'openaiListModels',
        summary: 'The model aliases this key may use',
        tags: ['openai'],
        security: apiKey,
        responses: {
          200: json(ref('ModelList')),
          401: openAiError('invalid_api_key'),
          403: openAiError('insufficient_scope'),
        },
      },
    },
    '/v1/models/{model}': {
      get: {
        operationId: 'openaiShowModel',
        summary: 'One model alias, if this key may use it',
        tags: ['openai'],
        security: apiKey,
        parameters: [{ name: 'model', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          200: json(ref('OpenAiModel')),
          401: openAiError('invalid_api_key'),
          403: openAiError('insufficient_scope'),
          404: openAiError('model_not_found'),
        },
      },
    },
  },
  schemas: {
    GatewayProvider: {
      type: 'object',
      required: ['id', 'name', 'kind', 'baseUrl', 'hasApiKey', 'timeoutMs', 'maxRetries'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        name: { type: 'string' },
        kind: { enum: ['ollama', 'openai-compatible'] },
        baseUrl: { type: 'string' },
        hasApiKey: { type: 'boolean', description: 'The key itself is never returned' },
        timeoutMs: { type: 'integer' },
        maxRetries: { type: 'integer' },
        createdAt: dateTime,
        updatedAt: dateTime,
      },
      additionalProperties: false,
    },
    GatewayModel: {
      type: 'object',
      required: ['id', 'alias', 'strategy', 'pricing', 'deployments'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        alias: { type: 'string' },
        strategy: { enum: ['priority', 'weighted'] },
        pricing: {
          type: 'object',
          required: ['inputPerMTok', 'outputPerMTok', 'currency'],
          properties: {
            inputPerMTok: { type: 'integer', description: 'Minor units per million input tokens' },
            outputPerMTok: {
              type: 'integer',
              description: 'Minor units per million output tokens',
            },
            currency: { type: 'string' },
          },
          additionalProperties: false,
        },
        deployments: {
          type: 'array',
          items: {
            type: 'object',
            required: ['id', 'providerId', 'providerName', 'upstreamModel', 'weight'],
            properties: {
              id: { type: 'string', format: 'uuid' },
              providerId: { type: 'string', format: 'uuid' },
              providerName: { type: 'string' },
              upstreamModel: { type: 'string' },
              weight: { type: 'integer' },
            },
            additionalProperties: false,
          },
        },
        createdAt: dateTime,
        updatedAt: dateTime,
      },
      additionalProperties: false,
    },
    GatewayKey: {
      type: 'object',
      required: ['id', 'name', 'prefix', 'scopes', 'limits', 'metadata', 'createdAt'],
      properties: keyProperties,
      additionalProperties: false,
    },
    GatewayKeyWithSecret: {
      type: 'object',
      required: ['id', 'name', 'prefix', 'scopes', 'limits', 'metadata', 'createdAt', 'secret'],
      properties: {
        ...keyProperties,
        secret: { type: 'string', pattern: '^atr_', description: 'Shown once' },
      },
      additionalProperties: false,
    },
    GatewayUsageReport: {
      type: 'object',
      required: ['groupBy', 'from', 'to', 'data'],
      properties: {
        groupBy: { enum: ['key', 'model', 'day'] },
        from: { type: 'string' },
        to: { type: 'string' },
        data: {
          type: 'array',
          items: {
            type: 'object',
            required: ['group', 'requests', 'errors', 'promptTokens', 'completionTokens', 'cost'],
            properties: {
              group: { type: ['string', 'null'], description: 'Key id, model alias or day' },
              requests: { type: 'integer' },
              errors: { type: 'integer' },
              promptTokens: { type: 'integer' },
              completionTokens: { type: 'integer' },
              cost: {
                type: 'object',
                required: ['amount', 'currency'],
                properties: {
                  amount: { type: 'number', description: 'Minor units (fractions kept)' },
                  currency: { type: 'string' },
                },
              },
              averageLatencyMs: { type: 'integer' },
            },
            additionalProperties: false,
          },
        },
      },
    },
    OpenAiError: {
      type: 'object',
      required: ['error'],
      properties: {
        error: {
          type: 'object',
          required: ['message', 'type', 'code'],
          properties: {
            message: { type: 'string' },
            type: { type: 'string' },
            param: { type: ['string', 'null'] },
            code: { type: ['string', 'null'] },
          },
        },
      },
    },
    ChatCompletionRequest: {
      type: 'object',
      required: ['model', 'messages'],
      description: 'OpenAI chat completion parameters; unknown fields are refused (400)',
      properties: {
        model: { type: 'string', description: 'A model alias of the tenant' },
        messages: { type: 'array', minItems: 1, items: { type: 'object' } },
        max_tokens: { type: 'integer', minimum: 1, maximum: 131072 },
        stream: { type: 'boolean' },
        stream_options: { type: 'object', properties: { include_usage: { type: 'boolean' } } },
      },
    },
    ChatCompletion: {
      type: 'object',
      required: ['id', 'object', 'created', 'model', 'choices'],
      properties: {
        id: { type: 'string' },
        object: { const: 'chat.completion' },
        created: { type: 'integer' },
        model: { type: 'string' },
        choices: { type: 'array', items: { type: 'object' } },
        usage: {
          type: 'object',
          properties: {
            prompt_tokens: { type: 'integer' },
            completion_tokens: { type: 'integer' },
            total_tokens: { type: 'integer' },
          },
        },
      },
    },
    EmbeddingRequest: {
      type: 'object',
      required: ['model', 'input'],
      properties: {
        model: { type: 'string' },
        input: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
        encoding_format: { enum: ['float', 'base64'] },
        user: { type: 'string' },
        dimensions: { type: 'integer' },
      },
    },
    EmbeddingList: {
      type: 'object',
      required: ['object', 'data', 'model', 'usage'],
      properties: {
        object: { const: 'list' },
        data: {
          type: 'array',
          items: {
            type: 'object',
            required: ['object', 'index', 'embedding'],
            properties: {
              object: { const: 'embedding' },
              index: { type: 'integer' },
              embedding: {
                oneOf: [
                  { type: 'array', items: { type: 'number' } },
                  { type: 'string', description: 'base64 of little-endian float32' },
                ],
              },
            },
          },
        },
        model: { type: 'string' },
        usage: { type: 'object' },
      },
    },
    OpenAiModel: {
      type: 'object',
      required: ['id', 'object', 'created', 'owned_by'],
      properties: {
        id: { type: 'string' },
        object: { const: 'model' },
        created: { type: 'integer' },
        owned_by: { type: 'string' },
      },
      additionalProperties: false,
    },
    ModelList: {
      type: 'object',
      required: ['object', 'data'],
      properties: { object: { const: 'list' }, data: { type: 'array', items: ref('OpenAiModel') } },
    },
  },
}

export default fragment
