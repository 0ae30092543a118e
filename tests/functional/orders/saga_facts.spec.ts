import { test } from '@japa/runner'
import { resetModuleTables } from '#tests/helpers/database'
import db from '@adonisjs/lucid/services/db'
import { assertProblem } from '#tests/helpers/openapi'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, placeOrder, resetOrders } from '#tests/helpers/orders'
import { drainBus } from '#tests/helpers/waiting'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { newId } from '#app/platform/ids'
import { tenancy } from '#app/tenancy/tenancy'
import { reservations } from '#modules/inventory/services/stock'

async function stock(sku: string) {
  return db.from('inventory_items').where('sku', sku).firstOrFail()
}

async function countWhere(table: string, where: Record<string, unknown>) {
  const [{ n }] = await db.from(table).where(where).count('* as n')
  return Number(n)
}

/** One cancellation is one fact: one event, one notification, one email, one webhook delivery. */
async function assertOneCancellation(assert: { equal: Function }, orderId: string) {
  assert.equal(await countWhere('messaging_outbox', { type: 'orders.order_cancelled' }), 1)
  const notified = await db
    .from('notifications_notifications')
    .where('kind', 'orders.order_cancelled')
    .whereRaw(`data->>'orderId' = ?`, [orderId])
    .count('* as n')
  assert.equal(Number(notified[0].n), 1)
  assert.equal(await countWhere('notifications_emails', { subject: 'Your order was cancelled' }), 1)
  assert.equal(
    await countWhere('notifications_webhook_deliveries', { event_type: 'orders.order_cancelled' }),
    1
  )
}

test.group('the saga states facts once', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
    await resetModuleTables('notifications')
  })

  async function shopWithWebhook(client: Parameters<typeof registerUser>[0]) {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'A', onHand: 5 })
    const hook = await client
      .post('/api/v1/webhooks')
      .bearerToken(owner.tokens.accessToken)
      .json({ url: 'https://hooks.example.com/orders', eventTypes: ['orders.order_cancelled'] })
    hook.assertStatus(201)
    return owner
  }

  test('cancelled while pending, reservation first: stock back, one cancellation', async ({
    client,
    assert,
  }) => {
    const owner = await shopWithWebhook(client)
    const placed = await placeOrder(client, owner, [{ sku: 'A', quantity: 3 }])
    const id = placed.body().id as string
    const cancelled = await client
      .post(`/api/v1/orders/${id}/cancel`)
      .bearerToken(owner.tokens.accessToken)
    cancelled.assertStatus(200)
    await drainBus()

    assert.include(await stock('A'), { on_hand: 5, reserved: 0 })
    const reservation = await db.from('inventory_reservations').where('order_id', id).first()
    assert.equal(reservation.status, 'released')
    await assertOneCancellation(assert, id)
  })

  test('cancelled while pending, cancellation first: the late reservation holds nothing', async ({
    client,
    assert,
  }) => {
    const owner = await shopWithWebhook(client)
    const placed = await placeOrder(client, owner, [{ sku: 'A', quantity: 3 }])
    const id = placed.body().id as string
    // Hold the placement back, so the cancellation reaches the inventory first.
    await db
      .from('messaging_outbox')
      .where('type', 'orders.order_placed')
      .update({ available_at: db.raw(`now() + interval '1 hour'`) })
    const cancelled = await client
      .post(`/api/v1/orders/${id}/cancel`)
      .bearerToken(owner.tokens.accessToken)
    cancelled.assertStatus(200)
    await drainBus()
    const marker = await db.from('inventory_reservations').where('order_id', id).first()
    assert.include(marker, { status: 'released' })

    await db
      .from('messaging_outbox')
      .where('type', 'orders.order_placed')
      .update({ available_at: db.raw('now()') })
    await drainBus()

    assert.include(await stock('A'), { on_hand: 5, reserved: 0 })
    const ledger = await db.from('inventory_ledger').where({ order_id: id })
    assert.lengthOf(ledger, 0, 'nothing was reserved, so nothing was released')
    const order = await db.from('orders_orders').where('id', id).first()
    assert.equal(order.status, 'cancelled')
    await assertOneCancellation(assert, id)
  })

  test('reserve and release of one order racing: nothing held, each done in one attempt', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'A', onHand: 1000 })
    const tenantId = owner.activeTenantId!
    const run = (work: (trx: TransactionClientContract) => Promise<void>) =>
      tenancy.run(tenantId, work)
    for (let round = 0; round < 40; round++) {
      const orderId = newId()
      const reserve = () =>
        run((trx) => reservations.reserve(trx, tenantId, orderId, [{ sku: 'A', quantity: 3 }]))
      const release = () => run((trx) => reservations.release(trx, tenantId, orderId))
      // Both at once, in alternating order of start; neither may throw (no retry needed).
      await Promise.all(round % 2 ? [reserve(), release()] : [release(), reserve()])
      const row = await db.from('inventory_reservations').where('order_id', orderId).first()
      assert.equal(row.status, 'released', `round ${round}`)
    }
    assert.include(await stock('A'), { on_hand: 1000, reserved: 0 })
  })

  test('an order mixing currencies is refused at placement; nothing is stored', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'EUR-1', onHand: 5 })
    const usd = await client
      .post('/api/v1/inventory/items')
      .bearerToken(owner.tokens.accessToken)
      .json({ sku: 'USD-1', name: 'Dollar item', priceMinor: 1000, currency: 'USD', onHand: 5 })
    usd.assertStatus(201)
    const placed = await placeOrder(client, owner, [
      { sku: 'EUR-1', quantity: 1 },
      { sku: 'USD-1', quantity: 1 },
    ])
    assertProblem(placed, 422, 'validation_failed')
    assert.deepInclude(placed.body().errors[0], { field: 'lines', rule: 'currency' })
    assert.include(placed.body().errors[0].message, 'EUR and USD')
    assert.equal(await countWhere('orders_orders', {}), 0)
    assert.equal(await countWhere('messaging_outbox', { type: 'orders.order_placed' }), 0)
  })
})
