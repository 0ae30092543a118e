import type { JsonSchema } from '#app/openapi/types'
import { optional, schema as s } from '#app/openapi/schema'

/** Shared pieces every module refers to with `$ref`. */
/** Shared pieces every module refers to with `$ref`. */
export const sharedSchemas: Record<string, JsonSchema> = {
  Problem: s.object(
    {
      type: { type: 'string', format: 'uri' },
      title: s.string,
      status: { type: 'integer', minimum: 400, maximum: 599 },
      detail: optional(s.string),
      code: s.described(s.string, 'Stable snake_case identifier clients can branch on.'),
      errors: optional(s.array(s.object({ field: s.string, rule: s.string, message: s.string }))),
      requestId: optional(s.string),
    },
    'RFC 9457 problem details; every error on /api has this shape.'
  ),
  PageMeta: s.object({ nextCursor: s.nullable(s.string) }),
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
  Unavailable: {
    description:
      'Try again after Retry-After seconds; nothing was changed. database_conflict: collided with a concurrent change (deadlock); database_busy: a row it needs stayed locked too long; database_timeout: a statement ran too long',
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
