import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, placeOrder, resetOrders } from '#tests/helpers/orders'

test.group('idempotency keys are scoped by tenant', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
  })

  test('the same key and body in another tenant places a new order there', async ({
    client,
    assert,
  }) => {
    const first = await registerUser(client)
    await createItem(client, first, { sku: 'MUG-1', onHand: 5 })
    const placedInFirst = await placeOrder(client, first, [{ sku: 'MUG-1', quantity: 1 }], 'k-1')
    placedInFirst.assertStatus(202)

    const created = await client
      .post('/api/v1/tenants')
      .bearerToken(first.tokens.accessToken)
      .json({ name: 'Second shop' })
    const switched = await client
      .post('/api/v1/auth/switch-tenant')
      .bearerToken(first.tokens.accessToken)
      .json({ tenantId: created.body().id })
    const second = { ...first, activeTenantId: created.body().id, tokens: switched.body().tokens }
    await createItem(client, second, { sku: 'MUG-1', onHand: 5 })

    const placedInSecond = await placeOrder(client, second, [{ sku: 'MUG-1', quantity: 1 }], 'k-1')
    placedInSecond.assertStatus(202)
    assert.isUndefined(placedInSecond.header('idempotent-replayed'))
    assert.notEqual(placedInSecond.body().id, placedInFirst.body().id)
    const owners = await db
      .from('orders_orders')
      .whereIn('id', [placedInFirst.body().id, placedInSecond.body().id])
      .select('tenant_id')
    assert.sameMembers(
      owners.map((row) => row.tenant_id),
      [first.activeTenantId, second.activeTenantId]
    )
  })
})
