import { test } from '@japa/runner'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, resetOrders } from '#tests/helpers/orders'

test.group('inventory catalog and stock', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
  })

  test('items: create, list with a low-stock filter, change; SKUs are unique per tenant', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const created = await client
      .post('/api/v1/inventory/items')
      .bearerToken(owner.tokens.accessToken)
      .json({ sku: 'TEA-1', name: 'Green tea', priceMinor: 450, currency: 'EUR', onHand: 3 })
    created.assertStatus(201)
    assertMatchesOpenApi(created, 'POST', '/api/v1/inventory/items')
    assert.include(created.body(), { onHand: 3, reserved: 0, available: 3 })
    await createItem(client, owner, { sku: 'TEA-2', onHand: 40 })
    assertProblem(
      await client
        .post('/api/v1/inventory/items')
        .bearerToken(owner.tokens.accessToken)
        .json({ sku: 'TEA-1', name: 'Again', priceMinor: 1, currency: 'EUR' }),
      409,
      'sku_taken'
    )
    // Another tenant may use the same SKU.
    const other = await registerUser(client)
    await createItem(client, other, { sku: 'TEA-1', onHand: 1 })

    const low = await client
      .get('/api/v1/inventory/items?lowStock=5')
      .bearerToken(owner.tokens.accessToken)
    assertMatchesOpenApi(low, 'GET', '/api/v1/inventory/items')
    assert.deepEqual(
      low.body().data.map((item: { sku: string }) => item.sku),
      ['TEA-1']
    )
    const patched = await client
      .patch('/api/v1/inventory/items/TEA-2')
      .bearerToken(owner.tokens.accessToken)
      .json({ priceMinor: 999, active: false })
    assert.include(patched.body(), { priceMinor: 999, active: false })
    const adjusted = await client
      .post('/api/v1/inventory/items/TEA-1/adjustments')
      .bearerToken(owner.tokens.accessToken)
      .json({ delta: 7, reason: 'delivery' })
    adjusted.assertStatus(201)
    assert.include(adjusted.body(), { onHand: 10, available: 10 })
    assertProblem(
      await client.get('/api/v1/inventory/items/NOPE').bearerToken(owner.tokens.accessToken),
      404,
      'item_not_found'
    )
  })

  test('members read the catalog; only owners and admins change it', async ({ client, assert }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'A', onHand: 1 })
    const { token } = await joinAs(client, owner, 'member')
    const read = await client.get('/api/v1/inventory/items/A').bearerToken(token)
    read.assertStatus(200)
    assertProblem(
      await client
        .post('/api/v1/inventory/items/A/adjustments')
        .bearerToken(token)
        .json({ delta: 5, reason: 'found some' }),
      403,
      'forbidden'
    )
    const unchanged = await client.get('/api/v1/inventory/items/A').bearerToken(token)
    assert.equal(unchanged.body().onHand, 1)
  })
})
