import { test } from '@japa/runner'

/** /v1 is the OpenAI-compatible surface: SDKs parse `{ error: { message, type, param, code } }`. */
test.group('errors on /v1 use the OpenAI envelope', () => {
  test('unknown /v1 route → 404 in OpenAI shape, with a request id', async ({ client, assert }) => {
    const response = await client.post('/v1/no-such-endpoint').json({ model: 'x' })
    response.assertStatus(404)
    assert.include(response.header('content-type') ?? '', 'application/json')
    assert.deepEqual(Object.keys(response.body()), ['error'])
    assert.deepInclude(response.body().error, {
      type: 'not_found_error',
      code: 'route_not_found',
      param: null,
    })
    assert.isString(response.body().error.message)
    assert.isString(response.header('x-request-id'))
  })
})
