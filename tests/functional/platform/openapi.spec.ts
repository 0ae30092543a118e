import { test } from '@japa/runner'
import type { ApiClient } from '@japa/api-client'
import router from '@adonisjs/core/services/router'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { toOpenApiPath } from '#app/openapi/document'
import { assertMatchesOpenApi } from '#tests/helpers/openapi'
import { FIXTURE_PREFIX } from '#tests/fixtures/routes'

interface RouteJson {
  pattern: string
  methods: string[]
}

function registeredApiRoutes() {
  const routes = Object.values(router.toJSON()).flat() as RouteJson[]
  return routes
    .filter((route) => route.pattern.startsWith('/api/') || route.pattern.startsWith('/v1/'))
    .filter((route) => !route.pattern.startsWith(FIXTURE_PREFIX))
    .flatMap((route) =>
      route.methods
        .filter((method) => method !== 'HEAD')
        .map((method) => ({ method, pattern: route.pattern }))
    )
}

async function fetchDocument(client: ApiClient) {
  const response = await client.get('/openapi.json')
  return response.body()
}

test.group('OpenAPI document', () => {
  test('GET /openapi.json is an OpenAPI 3.1 document', async ({ client, assert }) => {
    const response = await client.get('/openapi.json')
    response.assertStatus(200)
    assert.equal(response.body().openapi, '3.1.0')
    assert.equal(response.body().info.title, 'Atrium API')
    assert.property(response.body().components.schemas, 'Problem')
  })

  test('every /api and /v1 route is documented', async ({ client, assert }) => {
    const { paths } = await fetchDocument(client)
    const routes = registeredApiRoutes()
    assert.isAbove(routes.length, 0)
    const missing = routes
      .filter(({ method, pattern }) => !paths[toOpenApiPath(pattern)]?.[method.toLowerCase()])
      .map(({ method, pattern }) => `${method} ${pattern}`)
    assert.deepEqual(missing, [], `routes missing from /openapi.json: ${missing.join(', ')}`)
  })

  test('no documented operation lacks a route', async ({ client, assert }) => {
    const { paths } = await fetchDocument(client)
    const routes = Object.values(router.toJSON()).flat() as RouteJson[]
    const registered = new Set(
      routes.flatMap((route) =>
        route.methods.map((method) => `${method.toLowerCase()} ${toOpenApiPath(route.pattern)}`)
      )
    )
    const stale = Object.entries(paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, item]) => Object.keys(item).map((method) => `${method} ${path}`))
      .filter((operation) => !registered.has(operation))
    assert.deepEqual(stale, [], `documented but not routed: ${stale.join(', ')}`)
  })

  test('every schema compiles and every $ref resolves', async ({ client, assert }) => {
    const document = await fetchDocument(client)
    const ajv = new Ajv2020({ strict: false })
    ajv.addSchema({ $id: 'doc', components: document.components })
    const refs = JSON.stringify(document).match(/"\$ref":"([^"]+)"/g) ?? []
    for (const raw of refs) {
      const pointer = raw.slice(8, -1)
      const [, , section, name] = pointer.split('/')
      assert.property(document.components[section], name, `${pointer} does not resolve`)
    }
    for (const name of Object.keys(document.components.schemas)) {
      assert.doesNotThrow(() => ajv.getSchema(`doc#/components/schemas/${name}`))
    }
  })

  test('operation ids are unique', async ({ client, assert }) => {
    const { paths } = await fetchDocument(client)
    const ids = Object.values(
      paths as Record<string, Record<string, { operationId: string }>>
    ).flatMap((item) => Object.values(item).map((operation) => operation.operationId))
    assert.equal(new Set(ids).size, ids.length)
  })

  test('real responses match the document', async ({ client }) => {
    for (const path of [
      '/api/v1/system/ping',
      '/api/v1/system/info',
      '/health/live',
      '/health/ready',
    ]) {
      assertMatchesOpenApi(await client.get(path), 'GET', path)
    }
  })

  test('the validator catches a response that drifts from the document', async ({
    client,
    assert,
  }) => {
    const response = await client.get('/api/v1/system/ping')
    const body = response.body()
    body.extra = 'not documented'
    assert.throws(
      () => assertMatchesOpenApi(response, 'GET', '/api/v1/system/ping'),
      /does not match/
    )
  })

  test('/docs serves the interactive reference from local assets', async ({ client, assert }) => {
    const page = await client.get('/docs')
    page.assertStatus(200)
    assert.include(page.header('content-type') ?? '', 'text/html')
    assert.include(page.text(), '/docs/assets/swagger-ui-bundle.js')
    assert.notMatch(page.text(), /https?:\/\/(?!localhost)/, 'no CDN')

    const bundle = await client.get('/docs/assets/swagger-ui-bundle.js')
    bundle.assertStatus(200)
    assert.include(bundle.header('content-type') ?? '', 'javascript')

    const init = await client.get('/docs/init.js')
    assert.include(init.text(), '/openapi.json')
  })

  test('/docs/assets serves only its whitelisted files', async ({ client }) => {
    const response = await client.get('/docs/assets/..%2F..%2Fpackage.json')
    response.assertStatus(404)
    const other = await client.get('/docs/assets/index.html')
    other.assertStatus(404)
  })
})
