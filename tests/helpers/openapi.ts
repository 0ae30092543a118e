import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import { ApiClient, ApiRequest, type ApiResponse } from '@japa/api-client'
import { currentDocument } from '#app/openapi/registry'

/**
 * Validates real responses against /openapi.json: the documented operation for
 * the request's method and path must exist, must document the status, and the
 * body must match its schema. Every functional test that checks a body should
 * also call this, so the document cannot drift from the code.
 */
let ajv: Ajv2020 | undefined
const compiled = new Map<string, ValidateFunction>()

function validatorFor(document: ReturnType<typeof currentDocument>) {
  if (!ajv) {
    ajv = new Ajv2020({ strict: false, allErrors: true })
    addFormats.default(ajv)
    ajv.addSchema({ $id: 'openapi', components: document.components }, 'openapi')
  }
  return ajv
}

function rewriteRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rewriteRefs)
  if (schema && typeof schema === 'object') {
    return Object.fromEntries(
      Object.entries(schema).map(([key, value]) =>
        key === '$ref' && typeof value === 'string' && value.startsWith('#/')
          ? [key, `openapi${value}`]
          : [key, rewriteRefs(value)]
      )
    )
  }
  return schema
}

/** Finds the documented path template matching a concrete path: /things/123 → /things/{id}. */
export function matchPath(paths: Record<string, unknown>, concrete: string) {
  const target = concrete.split('?')[0]
  return Object.keys(paths).find((template) => {
    const pattern = new RegExp(`^${template.replace(/\{[^/]+\}/g, '[^/]+')}$`)
    return pattern.test(target)
  })
}

function resolveRef(document: ReturnType<typeof currentDocument>, node: Record<string, unknown>) {
  const ref = node.$ref
  if (typeof ref !== 'string') return node
  const [, , section, name] = ref.split('/')
  const components = document.components as Record<string, Record<string, Record<string, unknown>>>
  return components[section][name]
}

export function assertMatchesOpenApi(response: ApiResponse, method: string, path: string) {
  const document = currentDocument()
  const template = matchPath(document.paths, path)
  if (!template) throw new Error(`OpenAPI: no documented path matches ${path}`)
  const operation = (document.paths[template] as Record<string, Record<string, unknown>>)[
    method.toLowerCase()
  ]
  if (!operation) throw new Error(`OpenAPI: ${method} ${template} is not documented`)

  const status = String(response.status())
  const responses = operation.responses as Record<string, Record<string, unknown>>
  const documented = responses[status] ?? responses.default
  if (!documented)
    throw new Error(`OpenAPI: ${method} ${template} does not document status ${status}`)

  const resolved = resolveRef(document, documented)
  const content = resolved.content as Record<string, { schema?: unknown }> | undefined
  if (!content) return
  const contentType = (response.header('content-type') ?? '').split(';')[0].trim()
  const media = content[contentType]
  if (!media) {
    throw new Error(
      `OpenAPI: ${method} ${template} ${status} does not document content type ${contentType}`
    )
  }
  if (!media.schema || !contentType.includes('json')) return

  const key = `${method} ${template} ${status} ${contentType}`
  let validate = compiled.get(key)
  if (!validate) {
    validate = validatorFor(document).compile(rewriteRefs(media.schema) as object)
    compiled.set(key, validate)
  }
  if (!validate(response.body())) {
    throw new Error(
      `OpenAPI: ${key} body does not match: ${JSON.stringify(validate.errors, null, 2)}`
    )
  }
}

/** Asserts an RFC 9457 problem answer: status, content type, the shared Problem schema and the code. */
export function assertProblem(response: ApiResponse, status: number, code: string) {
  if (response.status() !== status) {
    throw new Error(
      `expected status ${status}, got ${response.status()}: ${JSON.stringify(response.body())}`
    )
  }
  const contentType = response.header('content-type') ?? ''
  if (!contentType.startsWith('application/problem+json')) {
    throw new Error(`expected application/problem+json, got ${contentType}`)
  }
  const document = currentDocument()
  const key = 'Problem'
  let validate = compiled.get(key)
  if (!validate) {
    validate = validatorFor(document).compile({ $ref: 'openapi#/components/schemas/Problem' })
    compiled.set(key, validate)
  }
  const body = response.body() as { code?: string; requestId?: string }
  if (!validate(body)) throw new Error(`not a Problem: ${JSON.stringify(validate.errors)}`)
  if (body.code !== code) throw new Error(`expected code ${code}, got ${body.code}`)
  if (body.requestId !== response.header('x-request-id')) {
    throw new Error('problem.requestId must equal the X-Request-Id header')
  }
}

/*
 * Every response a test receives from a documented surface (/api, /v1) is
 * checked against /openapi.json, so no test can forget to: the operation, the
 * status, the content type and the body must all be documented. A test that
 * deliberately sends something the document cannot describe (a hand-broken
 * request line, a raw socket) opts out with `.withoutOpenApiCheck(reason)`.
 */
const unchecked = new WeakSet<ApiRequest>()

declare module '@japa/api-client' {
  interface ApiRequest {
    /** Skips the automatic OpenAPI check for this request; say why. */
    withoutOpenApiCheck(reason: string): this
  }
}

const DOCUMENTED_SURFACES = ['/api/', '/v1/']
/** tests/fixtures/routes.ts: routes that exist only in tests, to exercise the kernel. */
const FIXTURES = '/api/v1/__fixtures/'

export function checkEveryResponseAgainstOpenApi() {
  ApiRequest.macro('withoutOpenApiCheck', function (this: ApiRequest, reason: string) {
    if (!reason.trim()) throw new Error('withoutOpenApiCheck needs a reason')
    unchecked.add(this)
    return this
  })
  ApiClient.teardown((response) => {
    if (unchecked.has(response.request)) return
    const { method, endpoint } = response.request.config
    const path = new URL(endpoint, 'http://test').pathname
    if (!DOCUMENTED_SURFACES.some((surface) => path.startsWith(surface))) return
    if (path.startsWith(FIXTURES)) return
    if (!matchPath(currentDocument().paths, path)) {
      // No such route: the router's answer, which every surface shares.
      if (response.status() !== 404 && response.status() !== 405) {
        throw new Error(`OpenAPI: no documented path matches ${method} ${path}`)
      }
      return
    }
    assertMatchesOpenApi(response, method, path)
  })
}
