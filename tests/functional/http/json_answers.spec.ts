import { test } from '@japa/runner'
import { FIXTURE_PREFIX } from '#tests/fixtures/routes'

test.group('JSON answers', () => {
  test('an answer holding a BigInt and a cycle is still written, not a 500', async ({
    client,
    assert,
  }) => {
    const response = await client.get(`${FIXTURE_PREFIX}/json/unusual`)
    response.assertStatus(200)
    assert.match(response.header('content-type') ?? '', /^application\/json/)
    assert.equal(
      response.text(),
      '{"count":"12345678901234567890","loop":{"name":"loop"},"last":true}'
    )
  })

  test('keys keep the order the code wrote them in', async ({ client, assert }) => {
    const response = await client.get('/api/v1/system/ping')
    response.assertStatus(200)
    assert.match(response.text(), /^\{"pong":true,"time":"[^"]+"\}$/)
  })
})
