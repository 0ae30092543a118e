import { test } from '@japa/runner'
import { buildDocument, toOpenApiPath } from '#app/openapi/document'

const info = { title: 't', version: '1', description: 'd' }
const op = (operationId: string) => ({
  operationId,
  summary: operationId,
  responses: { 200: { description: 'OK' } },
})

test.group('OpenAPI document assembly', () => {
  test('route patterns become OpenAPI templates', ({ assert }) => {
    assert.equal(
      toOpenApiPath('/api/v1/tenants/:id/members/:memberId'),
      '/api/v1/tenants/{id}/members/{memberId}'
    )
    assert.equal(toOpenApiPath('/api/v1/things/:id?'), '/api/v1/things/{id}')
    assert.equal(toOpenApiPath('/health/live'), '/health/live')
  })

  test('fragments merge; methods on one path from two fragments coexist', ({ assert }) => {
    const document = buildDocument(info, [
      { paths: { '/a': { get: op('getA') } }, schemas: { A: { type: 'string' } } },
      { paths: { '/a': { post: op('postA') }, '/b': { get: op('getB') } } },
    ])
    assert.equal(document.openapi, '3.1.0')
    assert.sameMembers(Object.keys(document.paths['/a']), ['get', 'post'])
    assert.property(document.components.schemas, 'A')
    assert.property(document.components.schemas, 'Problem')
  })

  test('the same operation described twice fails loudly', ({ assert }) => {
    assert.throws(
      () =>
        buildDocument(info, [
          { paths: { '/a': { get: op('one') } } },
          { paths: { '/a': { get: op('two') } } },
        ]),
      'OpenAPI: GET /a is described twice'
    )
  })

  test('a schema name claimed twice (or clashing with a shared one) fails loudly', ({ assert }) => {
    assert.throws(
      () => buildDocument(info, [{ paths: {}, schemas: { Problem: {} } }]),
      'OpenAPI: schema Problem is defined twice'
    )
  })
})
