import type { JsonSchema, OpenApiFragment, Operation, PathItem } from '#app/openapi/types'
import { json, parameter, ref, sharedResponses } from '#app/openapi/components'
import { queryParameters, requestBody } from '#app/openapi/from_validators'

/*
 * The one way a module describes its API. An operation says only what is
 * particular to it; what every route shares is derived:
 *   - path parameters from the `{name}` segments of its path (and a 404),
 *   - query parameters and the request body from its VineJS validators
 *     (and 400 for a malformed body, 422 for invalid fields),
 *   - security and 401/403 from who may call it.
 * Errors are RFC 9457 problems on /api, OpenAI errors on /v1.
 */

/** A compiled VineJS validator (its JSON Schema is the request's shape). */
interface SchemaSource {
  toJSONSchema(): unknown
}

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
type Route = `${Method} /${string}`

/** A success answer: a JSON schema, null for no body, or a full OpenAPI response object. */
type Answer = JsonSchema | null | { description: string; content?: unknown; headers?: unknown }

export interface OperationSpec {
  id: string
  summary: string
  description?: string
  /**
   * Who may call it: a member acting in their active tenant (default), any
   * signed-in user, a gateway API key, or anyone.
   */
  auth?: 'tenant' | 'user' | 'apiKey' | 'none'
  query?: SchemaSource
  /** A validator, or a schema when the body is not validated by Vine (e.g. OpenAI's). */
  body?: SchemaSource | JsonSchema
  /** Extra parameters (headers), e.g. `parameter('IdempotencyKey')`. */
  parameters?: Array<Record<string, unknown>>
  /** Status → answer, e.g. `{ 200: ref('Order') }`, `{ 204: null }`. */
  ok: Record<number, Answer>
  /** Errors beyond the derived ones, or what the derived ones mean here: status → description or response. */
  errors?: Record<number, string | Record<string, unknown>>
  /** Problem+json (default) or OpenAI-style `{ error }` bodies. */
  errorFormat?: 'problem' | 'openai'
}

const SHARED_BY_STATUS: Record<number, keyof typeof sharedResponses> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  413: 'TooLarge',
  422: 'ValidationFailed',
  429: 'RateLimited',
  500: 'ServerError',
  503: 'Unavailable',
}

/** Any operation that reaches the database can be refused for a moment (app/http/database_refusals.ts). */
const DATABASE_REFUSALS =
  'database_conflict, database_busy or database_timeout: rolled back, retry after Retry-After seconds'

const problemContent = { 'application/problem+json': { schema: ref('Problem') } }

function errorResponse(
  status: number,
  description: string | undefined,
  format: 'problem' | 'openai'
): Record<string, unknown> {
  if (format === 'openai') {
    return json(ref('OpenAiError'), description ?? `OpenAI-style error (${status})`)
  }
  const shared = SHARED_BY_STATUS[status]
  if (shared && description === undefined) return { $ref: `#/components/responses/${shared}` }
  const base = shared ? sharedResponses[shared] : { description: '', content: problemContent }
  return { ...base, description: description ?? base.description }
}

function isValidator(value: unknown): value is SchemaSource {
  return typeof (value as SchemaSource | undefined)?.toJSONSchema === 'function'
}

function successResponse(answer: Answer) {
  if (answer === null) return { description: 'No content' }
  if (typeof answer.description === 'string' && !('type' in answer) && !('$ref' in answer)) {
    return answer
  }
  return json(answer as JsonSchema)
}

function describe(
  path: string,
  spec: OperationSpec,
  tag: string,
  defaults: Pick<OperationSpec, 'auth'>
): Operation {
  const format = spec.errorFormat ?? 'problem'
  const auth = spec.auth ?? defaults.auth ?? 'tenant'
  const derived: Record<number, string | undefined> = {}
  const parameters: Array<Record<string, unknown>> = []

  if (auth !== 'none') derived[401] = undefined
  if (auth === 'tenant') {
    derived[403] = 'forbidden (role) or no_active_tenant'
    derived[404] = 'tenant_not_found: no longer a member of the active tenant'
  }
  for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) {
    parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } })
    derived[404] = undefined
  }
  if (spec.parameters) parameters.push(...spec.parameters)
  if (spec.query) {
    parameters.push(...queryParameters(spec.query))
    derived[422] = undefined
  }
  if (spec.body) {
    derived[400] = 'Malformed JSON'
    derived[422] = undefined
  }

  const responses: Record<string, Record<string, unknown>> = {}
  for (const [status, answer] of Object.entries(spec.ok)) {
    responses[status] = successResponse(answer)
  }
  const errors: Record<number, string | Record<string, unknown> | undefined> = {
    ...derived,
    503: undefined,
    ...spec.errors,
  }
  if (typeof errors[503] === 'string') errors[503] = `${errors[503]}; or ${DATABASE_REFUSALS}`
  for (const [status, error] of Object.entries(errors)) {
    responses[status] =
      typeof error === 'object' ? error : errorResponse(Number(status), error, format)
  }

  const operation: Operation = {
    operationId: spec.id,
    summary: spec.summary,
    tags: [tag],
    responses,
  }
  if (spec.description) operation.description = spec.description
  if (auth !== 'none') operation.security = [{ [auth === 'apiKey' ? 'apiKey' : 'bearer']: [] }]
  if (parameters.length) operation.parameters = parameters
  if (spec.body) {
    operation.requestBody = isValidator(spec.body)
      ? requestBody(spec.body)
      : { required: true, content: { 'application/json': { schema: spec.body } } }
  }
  return operation
}

/**
 * A module's OpenAPI fragment from its operations, keyed `'METHOD /path'`
 * with `{param}` segments, and the response schemas it names with `ref()`.
 * `defaults.auth` applies to operations that do not say (default: tenant).
 */
export function defineApi(
  tag: { name: string; description: string },
  operations: Record<Route, OperationSpec>,
  schemas: Record<string, JsonSchema> = {},
  defaults: Pick<OperationSpec, 'auth'> = {}
): OpenApiFragment {
  const paths: Record<string, PathItem> = {}
  for (const [route, spec] of Object.entries(operations)) {
    const [method, path] = route.split(' ') as [Method, string]
    paths[path] ??= {}
    paths[path][method.toLowerCase() as keyof PathItem] = describe(path, spec, tag.name, defaults)
  }
  return { tags: [tag], paths, schemas }
}

/** One fragment from several (a module with more than one tag, like the gateway's admin API and /v1). */
export function combineApis(...fragments: OpenApiFragment[]): OpenApiFragment {
  return {
    tags: fragments.flatMap((fragment) => fragment.tags ?? []),
    paths: Object.assign({}, ...fragments.map((fragment) => fragment.paths)),
    schemas: Object.assign({}, ...fragments.map((fragment) => fragment.schemas)),
  }
}

export { parameter, ref }
export { optional, schema } from '#app/openapi/schema'
