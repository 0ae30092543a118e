import type { JsonSchema } from '#app/openapi/types'

/** Shared pieces every module refers to with `$ref`. */
export const sharedSchemas: Record<string, JsonSchema> = {
  Problem: {
    type: 'object',
    description: 'RFC 9457 problem details; every error on /api has this shape.',
    required: ['type', 'title', 'status', 'code'],
    properties: {
      type: { type: 'string', format: 'uri' },
      title: { type: 'string' },
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: { type: 'string' },
      code: { type: 'string', description: 'Stable snake_case identifier clients can branch on.' },
      errors: {
        type: 'array',
        items: {
          type: 'object',
          required: ['field', 'rule', 'message'],
          properties: {
            field: { type: 'string' },
            rule: { type: 'string' },
            message: { type: 'string' },
          },
          additionalProperties: false,
        },
      },
      requestId: { type: 'string' },
    },
    additionalProperties: false,
  },
  PageMeta: {
    type: 'object',
    required: ['nextCursor'],
    properties: { nextCursor: { type: ['string', 'null'] } },
    additionalProperties: false,
  },
}

export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })

const problemContent = { 'application/problem+json': { schema: ref('Problem') } }

export const sharedResponses = {
  BadRequest: { description: 'Malformed request (e.g. invalid JSON)', content: problemContent },
  Unauthorized: { description: 'Missing or invalid credentials', content: problemContent },
  Forbidden: { description: 'Authenticated but not allowed', content: problemContent },
  NotFound: {
    description: 'No such resource, or it belongs to another tenant',
    content: problemContent,
  },
  Conflict: { description: 'Conflicts with the current state', content: problemContent },
  TooLarge: { description: 'Request body over the configured limit', content: problemContent },
  ValidationFailed: { description: 'Invalid fields; see errors[]', content: problemContent },
  RateLimited: {
    description: 'Too many requests; retry after Retry-After seconds',
    headers: { 'Retry-After': { schema: { type: 'integer' } } },
    content: problemContent,
  },
  ServerError: {
    description: 'Unexpected error; quote requestId when reporting it',
    content: problemContent,
  },
}

export const response = (name: keyof typeof sharedResponses) => ({
  $ref: `#/components/responses/${name}`,
})

export const sharedParameters = {
  Limit: {
    name: 'limit',
    in: 'query',
    description: 'Page size (default 25, at most 100)',
    schema: { type: 'integer', minimum: 1, maximum: 100, default: 25 },
  },
  Cursor: {
    name: 'cursor',
    in: 'query',
    description: 'meta.nextCursor from the previous page',
    schema: { type: 'string' },
  },
  IdempotencyKey: {
    name: 'Idempotency-Key',
    in: 'header',
    description: 'Same key and body replays the first answer; same key with another body is a 422.',
    schema: { type: 'string', minLength: 1, maxLength: 255 },
  },
}

export const parameter = (name: keyof typeof sharedParameters) => ({
  $ref: `#/components/parameters/${name}`,
})

/** JSON body helper: `{ content: { 'application/json': { schema } } }`. */
export const json = (schema: JsonSchema, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
})

/** A list answer: `{ data: [...], meta: { nextCursor } }`. */
export const pageOf = (item: JsonSchema): JsonSchema => ({
  type: 'object',
  required: ['data', 'meta'],
  properties: { data: { type: 'array', items: item }, meta: ref('PageMeta') },
  additionalProperties: false,
})
