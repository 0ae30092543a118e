import type { OpenApiFragment } from '#app/openapi/types'
import { sharedParameters, sharedResponses, sharedSchemas } from '#app/openapi/components'

export interface DocumentInfo {
  title: string
  version: string
  description: string
}

/**
 * Merges the platform's and every mounted module's fragment into one
 * OpenAPI 3.1 document. Two fragments claiming the same path+method or the same
 * schema name is a programming error and fails at boot, not in production.
 */
export function buildDocument(info: DocumentInfo, fragments: OpenApiFragment[]) {
  const paths: Record<string, Record<string, unknown>> = {}
  const schemas: Record<string, unknown> = { ...sharedSchemas }
  const tags: Array<{ name: string; description: string }> = []

  for (const fragment of fragments) {
    tags.push(...(fragment.tags ?? []))
    for (const [path, item] of Object.entries(fragment.paths)) {
      paths[path] ??= {}
      for (const [method, operation] of Object.entries(item)) {
        if (paths[path][method])
          throw new Error(`OpenAPI: ${method.toUpperCase()} ${path} is described twice`)
        paths[path][method] = operation
      }
    }
    for (const [name, schema] of Object.entries(fragment.schemas ?? {})) {
      if (schemas[name]) throw new Error(`OpenAPI: schema ${name} is defined twice`)
      schemas[name] = schema
    }
  }

  return {
    openapi: '3.1.0',
    info,
    servers: [{ url: '/' }],
    tags,
    paths,
    components: {
      schemas,
      responses: sharedResponses,
      parameters: sharedParameters,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description: 'A gateway API key (atr_…), for the OpenAI-compatible /v1 API',
        },
      },
    },
  }
}

export type OpenApiDocument = ReturnType<typeof buildDocument>

/** `/api/v1/things/:id` → `/api/v1/things/{id}` */
export function toOpenApiPath(pattern: string) {
  return pattern.replace(/:([A-Za-z0-9_]+)\??/g, '{$1}')
}
