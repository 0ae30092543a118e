import { test } from '@japa/runner'

test.group('system module', () => {
  test('GET /api/v1/system/ping answers through the full stack', async ({ client, assert }) => {
    const response = await client.get('/api/v1/system/ping')
    response.assertStatus(200)
    assert.isTrue(response.body().pong)
    assert.isFalse(Number.isNaN(Date.parse(response.body().time)))
    assert.match(response.header('x-request-id') ?? '', /^[0-9a-f-]{36}$/)
  })

  test('GET /api/v1/system/info names the version, role and mounted modules', async ({
    client,
    assert,
  }) => {
    const response = await client.get('/api/v1/system/info')
    response.assertStatus(200)
    assert.equal(response.body().name, 'atrium')
    assert.include(response.body().modules, 'system')
    assert.match(response.body().node, /^v24\./)
  })
})
