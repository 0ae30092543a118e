/** JSON Schema 2020-12, as OpenAPI 3.1 uses it. Kept loose: schemas are data, checked by ajv in tests. */
export type JsonSchema = Record<string, unknown>

export interface Operation {
  operationId: string
  summary: string
  description?: string
  tags?: string[]
  parameters?: Array<Record<string, unknown>>
  requestBody?: Record<string, unknown>
  responses: Record<string, Record<string, unknown>>
  security?: Array<Record<string, string[]>>
}

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete'
export type PathItem = Partial<Record<HttpMethod, Operation>>

/** What each module (and the platform itself) contributes to /openapi.json. */
export interface OpenApiFragment {
  tags?: Array<{ name: string; description: string }>
  paths: Record<string, PathItem>
  schemas?: Record<string, JsonSchema>
}
