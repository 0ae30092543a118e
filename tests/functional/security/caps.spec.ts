import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import { assertProblem } from '#tests/helpers/openapi'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { resetGateway } from '#tests/helpers/gateway'

test.group('caps on what one tenant can store', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    await db.rawQuery('TRUNCATE notifications_webhook_deliveries, notifications_webhooks CASCADE')
  })

  test('key metadata: at most 50 flat entries of 500 characters, names of 64', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const create = (metadata: unknown) =>
      client
        .post('/api/v1/gateway/keys')
        .bearerToken(owner.tokens.accessToken)
        .json({ name: 'k', metadata })
    const fifty = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'.repeat(500)])
    )
    const accepted = await create(fifty)
    accepted.assertStatus(201)
    for (const [label, metadata] of [
      ['51 entries', { ...fifty, extra: 1 }],
      ['a 501-character value', { note: 'v'.repeat(501) }],
      ['a nested object', { nested: { deep: true } }],
      ['a 65-character name', { ['n'.repeat(65)]: 1 }],
    ] as const) {
      const response = await create(metadata)
      assertProblem(response, 422, 'validation_failed')
      assert.equal(response.body().errors[0].field.split('.')[0], 'metadata', label)
    }
    const keys = await db.from('gateway_keys').count('* as n').first()
    assert.equal(Number(keys.n), 1)
  })

  test('webhooks per tenant stop at WEBHOOKS_MAX_PER_TENANT, even when created at once', async ({
    client,
    assert,
  }) => {
    const cap = env.get('WEBHOOKS_MAX_PER_TENANT') ?? 20
    const owner = await registerUser(client)
    const attempts = await Promise.all(
      Array.from({ length: cap + 5 }, (_, index) =>
        client
          .post('/api/v1/webhooks')
          .bearerToken(owner.tokens.accessToken)
          .json({
            url: `https://hooks.example.com/${index}`,
            eventTypes: ['orders.order_confirmed'],
          })
      )
    )
    const statuses = attempts.map((response) => response.status())
    assert.equal(statuses.filter((status) => status === 201).length, cap)
    assert.equal(statuses.filter((status) => status === 409).length, 5)
    const refused = attempts.find((response) => response.status() === 409)!
    assertProblem(refused, 409, 'webhook_limit_reached')
    const stored = await db.from('notifications_webhooks').count('* as n').first()
    assert.equal(Number(stored.n), cap)
  })
})
