import type { JsonSchema } from '#app/openapi/types'

/*
 * Response schemas, compactly: every property is required unless wrapped in
 * `optional()`, and objects allow no other properties, so a field the code
 * adds without documenting fails the response checks in tests.
 */
const OPTIONAL = Symbol('optional')
type Property = JsonSchema | { [OPTIONAL]: JsonSchema }

export const optional = (schema: JsonSchema): Property => ({ [OPTIONAL]: schema })

export const schema = {
  uuid: { type: 'string', format: 'uuid' } as JsonSchema,
  string: { type: 'string' } as JsonSchema,
  integer: { type: 'integer' } as JsonSchema,
  number: { type: 'number' } as JsonSchema,
  boolean: { type: 'boolean' } as JsonSchema,
  dateTime: { type: 'string', format: 'date-time' } as JsonSchema,
  /** Any JSON object (metadata, payloads). */
  record: { type: 'object' } as JsonSchema,

  nullable(inner: JsonSchema): JsonSchema {
    if (typeof inner.type === 'string') return { ...inner, type: [inner.type, 'null'] }
    return { oneOf: [inner, { type: 'null' }] }
  },
  array: (items: JsonSchema): JsonSchema => ({ type: 'array', items }),
  enum: (values: readonly string[]): JsonSchema => ({ enum: [...values] }),
  described: (inner: JsonSchema, description: string): JsonSchema => ({ ...inner, description }),

  object(properties: Record<string, Property>, description?: string): JsonSchema {
    const required: string[] = []
    const resolved: Record<string, JsonSchema> = {}
    for (const [name, property] of Object.entries(properties)) {
      if (OPTIONAL in property) {
        resolved[name] = property[OPTIONAL]
      } else {
        resolved[name] = property
        required.push(name)
      }
    }
    return {
      type: 'object',
      ...(description ? { description } : {}),
      required,
      properties: resolved,
      additionalProperties: false,
    }
  },

  /** `{ data: [...] }` without paging. */
  listOf: (item: JsonSchema): JsonSchema => ({
    type: 'object',
    required: ['data'],
    properties: { data: { type: 'array', items: item } },
    additionalProperties: false,
  }),
  /** A list answer: `{ data: [...], meta: { nextCursor } }`. */
  pageOf: (item: JsonSchema): JsonSchema => ({
    type: 'object',
    required: ['data', 'meta'],
    properties: {
      data: { type: 'array', items: item },
      meta: { $ref: '#/components/schemas/PageMeta' },
    },
    additionalProperties: false,
  }),
}
