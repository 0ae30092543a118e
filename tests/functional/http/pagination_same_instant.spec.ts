import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { newId } from '#app/platform/ids'
import { assertMatchesOpenApi } from '#tests/helpers/openapi'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { resetOrders } from '#tests/helpers/orders'

const ROWS = 300

/**
 * Rows created in one statement share one created_at to the microsecond —
 * the worst case for a cursor that carried a millisecond timestamp (it lost
 * rows when 500 orders were placed at once). Every page size must see every
 * row exactly once, in one order.
 */
test.group('cursor pagination over rows created in the same instant', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
  })

  test('orders: every row exactly once for page sizes 1, 7, 25 and 100', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const ids = Array.from({ length: ROWS }, () => newId())
    await db.table('orders_orders').multiInsert(
      ids.map((id) => ({
        id,
        tenant_id: owner.activeTenantId,
        status: 'pending',
        customer_email: 'same@example.com',
        lines: JSON.stringify([{ sku: 'X', quantity: 1 }]),
      }))
    )
    const instants = await db.from('orders_orders').countDistinct('created_at as n').first()
    assert.equal(Number(instants.n), 1, 'the rows share one created_at')
    const newestFirst = [...ids].sort().reverse()

    for (const limit of [1, 7, 25, 100]) {
      const seen: string[] = []
      let cursor: string | null = null
      let first = true
      while (first || cursor) {
        first = false
        const response = await client
          .get('/api/v1/orders')
          .qs(cursor ? { limit, cursor } : { limit })
          .bearerToken(owner.tokens.accessToken)
        response.assertStatus(200)
        if (seen.length === 0) assertMatchesOpenApi(response, 'GET', '/api/v1/orders')
        seen.push(...response.body().data.map((order: { id: string }) => order.id))
        cursor = response.body().meta.nextCursor
        assert.isAtMost(seen.length, ROWS, `limit ${limit}: more rows than exist`)
      }
      assert.deepEqual(seen, newestFirst, `limit ${limit}`)
    }
  }).timeout(120_000)
})
