import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { resetModuleTables } from '#tests/helpers/database'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, placeOrder, resetOrders } from '#tests/helpers/orders'
import { statementsSentDuring } from '#tests/helpers/sql_spy'
import { newId } from '#app/platform/ids'
import { tenancy } from '#app/tenancy/tenancy'
import { reservations, type OrderToReserve } from '#modules/inventory/services/stock'
import { orderSaga } from '#modules/orders/services/orders'

/*
| The saga's two hot steps take a batch of deliveries at once (subscribeBatch):
| a batch must decide each order exactly as the orders one by one would, in
| the order given, and cost the statements of one order.
*/

/** A new owner's tenant selling these items. */
async function shop(
  client: Parameters<typeof registerUser>[0],
  items: Array<{ sku: string; onHand: number }>
) {
  const owner = await registerUser(client)
  for (const item of items) await createItem(client, owner, item)
  return { owner, tenantId: owner.activeTenantId! }
}

async function outcomeEvents(type: string) {
  const rows = await db.from('messaging_outbox').where('type', type).select('payload')
  return rows.map((row) => row.payload)
}

test.group('inventory reserveAll(): a batch of orders, decided one after another', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
  })

  test('each order gets all its lines or none, judged on what the earlier ones left', async ({
    client,
    assert,
  }) => {
    const { tenantId } = await shop(client, [
      { sku: 'A', onHand: 5 },
      { sku: 'B', onHand: 2 },
    ])
    const [first, shortOfB, restOfA, tooLate, released] = [
      newId(),
      newId(),
      newId(),
      newId(),
      newId(),
    ]
    // Released before its placement arrived: the marker makes its reservation a no-op.
    await tenancy.run(tenantId, (trx) => reservations.release(trx, tenantId, released))

    const batch: OrderToReserve[] = [
      {
        orderId: first,
        lines: [
          { sku: 'A', quantity: 1 },
          { sku: 'A', quantity: 1 },
        ],
      },
      {
        orderId: shortOfB,
        lines: [
          { sku: 'A', quantity: 2 },
          { sku: 'B', quantity: 3 },
        ],
      },
      { orderId: restOfA, lines: [{ sku: 'A', quantity: 3 }] },
      { orderId: tooLate, lines: [{ sku: 'A', quantity: 1 }] },
      // Named twice: reserved once.
      { orderId: first, lines: [{ sku: 'A', quantity: 2 }] },
      { orderId: released, lines: [{ sku: 'B', quantity: 1 }] },
    ]
    await tenancy.run(tenantId, (trx) => reservations.reserveAll(trx, tenantId, batch))

    const items = await db.from('inventory_items').orderBy('sku').select('sku', 'reserved')
    assert.deepEqual(
      items.map((item) => `${item.sku}:${item.reserved}`),
      ['A:5', 'B:0']
    )
    const statuses = await db.from('inventory_reservations').select('order_id', 'status')
    assert.deepEqual(Object.fromEntries(statuses.map((row) => [row.order_id, row.status])), {
      [first]: 'reserved',
      [shortOfB]: 'rejected',
      [restOfA]: 'reserved',
      [tooLate]: 'rejected',
      [released]: 'released',
    })
    const reserved = await outcomeEvents('inventory.stock_reserved')
    assert.sameDeepMembers(
      reserved.map((payload) => [payload.orderId, payload.lines, payload.totalMinor]),
      [
        [first, [{ sku: 'A', quantity: 2, unitPriceMinor: 1250, currency: 'EUR' }], 2500],
        [restOfA, [{ sku: 'A', quantity: 3, unitPriceMinor: 1250, currency: 'EUR' }], 3750],
      ]
    )
    const rejected = await outcomeEvents('inventory.stock_rejected')
    assert.sameDeepMembers(
      rejected.map((payload) => [payload.orderId, payload.shortages]),
      [
        // The 2 A it asked for were there; B was short. Nothing of it was taken.
        [shortOfB, [{ sku: 'B', requested: 3, available: 2, reason: 'short' }]],
        [tooLate, [{ sku: 'A', requested: 1, available: 0, reason: 'short' }]],
      ]
    )
    // The ledger still adds up to the stock.
    const ledger = await db
      .from('inventory_ledger')
      .where('kind', 'reservation')
      .select('sku', 'order_id', 'reserved_delta')
    assert.sameDeepMembers(
      ledger.map((entry) => [entry.sku, entry.order_id, entry.reserved_delta]),
      [
        ['A', first, 2],
        ['A', restOfA, 3],
      ]
    )
  })

  test('a batch of ten orders sends the statements one order does', async ({ client, assert }) => {
    const { tenantId } = await shop(client, [
      { sku: 'A', onHand: 100 },
      { sku: 'B', onHand: 100 },
    ])
    const order = () => ({
      orderId: newId(),
      lines: [
        { sku: 'A', quantity: 1 },
        { sku: 'B', quantity: 2 },
      ],
    })
    const reserve = (batch: OrderToReserve[]) =>
      statementsSentDuring(() =>
        tenancy.run(tenantId, (trx) => reservations.reserveAll(trx, tenantId, batch))
      )
    const one = await reserve([order()])
    const ten = await reserve(Array.from({ length: 10 }, order))
    // The same statements, some with ten rows' placeholders instead of one's. The relay's
    // wake-up after an earlier commit (outbox.ts, wakeRelay) is no statement of theirs.
    const kinds = (sent: string[]) =>
      sent
        .map((statement) => statement.trim().slice(0, 40))
        .filter((statement) => !statement.startsWith('SELECT pg_notify'))
    assert.deepEqual(kinds(ten), kinds(one))
    const [stock] = await db.from('inventory_items').where('sku', 'B').select('reserved')
    assert.equal(stock.reserved, 22)
  })
})

test.group('orders: a batch of reservations confirmed together', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
    await resetModuleTables('notifications')
  })

  test('each pending order is confirmed once, with its history, event, notice and mail', async ({
    client,
    assert,
  }) => {
    const { owner, tenantId } = await shop(client, [{ sku: 'A', onHand: 50 }])
    const placed: string[] = []
    for (let index = 0; index < 3; index++) {
      const response = await placeOrder(client, owner, [{ sku: 'A', quantity: index + 1 }])
      response.assertStatus(202)
      placed.push(response.body().id)
    }
    const [first, cancelled, third] = placed
    const cancel = await client
      .post(`/api/v1/orders/${cancelled}/cancel`)
      .bearerToken(owner.tokens.accessToken)
    cancel.assertStatus(200)
    const payload = (orderId: string, quantity: number) => ({
      orderId,
      lines: [{ sku: 'A', quantity, unitPriceMinor: 1250, currency: 'EUR' }],
      totalMinor: quantity * 1250,
      currency: 'EUR',
    })

    await tenancy.run(tenantId, (trx) =>
      orderSaga.onStockReserved(trx, [
        payload(first, 1),
        payload(cancelled, 2),
        payload(third, 3),
        payload(first, 1),
      ])
    )

    const orders = await db.from('orders_orders').select('id', 'status', 'total_minor')
    assert.deepEqual(
      Object.fromEntries(orders.map((row) => [row.id, `${row.status}:${row.total_minor}`])),
      { [first]: 'confirmed:1250', [cancelled]: 'cancelled:null', [third]: 'confirmed:3750' }
    )
    const confirmations = await db
      .from('orders_status_history')
      .where('to_status', 'confirmed')
      .select('order_id', 'from_status', 'reason')
    assert.sameDeepMembers(
      confirmations.map((row) => ({ ...row })),
      [first, third].map((orderId) => ({
        order_id: orderId,
        from_status: 'pending',
        reason: 'stock reserved',
      }))
    )
    const events = await outcomeEvents('orders.order_confirmed')
    assert.sameDeepMembers(
      events.map((event) => [event.orderId, event.totalMinor, event.customerEmail]),
      [
        [first, 1250, 'buyer@example.com'],
        [third, 3750, 'buyer@example.com'],
      ]
    )
    const notices = await db
      .from('notifications_notifications')
      .where('kind', 'orders.order_confirmed')
      .select(db.raw(`data->>'orderId' AS order_id`), 'event_id', 'body')
    const eventIds = await db
      .from('messaging_outbox')
      .where('type', 'orders.order_confirmed')
      .select('id', db.raw(`payload->>'orderId' AS order_id`))
    assert.sameDeepMembers(
      notices.map((row) => [row.order_id, row.event_id, row.body]),
      eventIds.map((row) => [
        row.order_id,
        row.id,
        `Order confirmed: ${row.order_id} (buyer@example.com)`,
      ])
    )
    const mails = await db
      .from('notifications_emails')
      .where('subject', 'Your order is confirmed')
      .select('to', 'text')
    assert.sameDeepMembers(
      mails.map((mail) => ({ ...mail })),
      [first, third].map((orderId) => ({
        to: 'buyer@example.com',
        text: `Good news: your order ${orderId} is confirmed and its items are reserved for you.`,
      }))
    )
  })

  test('an unknown order fails the whole batch, so the kernel can find it alone', async ({
    client,
    assert,
  }) => {
    const { owner, tenantId } = await shop(client, [{ sku: 'A', onHand: 5 }])
    const response = await placeOrder(client, owner, [{ sku: 'A', quantity: 1 }])
    const known = response.body().id
    const lines = [{ sku: 'A', quantity: 1, unitPriceMinor: 1250, currency: 'EUR' }]
    await assert.rejects(() =>
      tenancy.run(tenantId, (trx) =>
        orderSaga.onStockReserved(trx, [
          { orderId: known, lines, totalMinor: 1250, currency: 'EUR' },
          { orderId: newId(), lines, totalMinor: 1250, currency: 'EUR' },
        ])
      )
    )
    const [order] = await db.from('orders_orders').where('id', known).select('status')
    assert.equal(order.status, 'pending')
    assert.lengthOf(await outcomeEvents('orders.order_confirmed'), 0)
  })
})
