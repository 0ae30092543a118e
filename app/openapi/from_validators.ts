import type { JsonSchema } from '#app/openapi/types'

/** Anything VineJS compiled: its JSON Schema is the single source of the request's shape. */
interface SchemaSource {
  toJSONSchema(): unknown
}

/** An OpenAPI requestBody from a compiled VineJS validator, never retyped by hand. */
export function requestBody(validator: SchemaSource) {
  return {
    required: true,
    content: { 'application/json': { schema: validator.toJSONSchema() as JsonSchema } },
  }
}

/** OpenAPI query parameters, one per property of a compiled VineJS object validator. */
export function queryParameters(validator: SchemaSource) {
  const schema = validator.toJSONSchema() as {
    properties?: Record<string, JsonSchema>
    required?: string[]
  }
  return Object.entries(schema.properties ?? {}).map(([name, property]) => ({
    name,
    in: 'query',
    required: schema.required?.includes(name) ?? false,
    schema: property,
  }))
}
