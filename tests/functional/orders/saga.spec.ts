import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { randomUUID } from 'node:crypto'
import env from '#start/env'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, placeOrder, resetOrders } from '#tests/helpers/orders'
import { drainBus } from '#tests/helpers/waiting'

async function placedId(placing: ReturnType<typeof placeOrder>) {
  const response = await placing
  return response.body().id as string
}

async function item(sku: string) {
  return db.from('inventory_items').where('sku', sku).firstOrFail()
}

test.group('orders and inventory: the saga over the local transport', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
  })

  test('placed → confirmed (priced, stock reserved) → fulfilled (stock leaves)', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'MUG-1', onHand: 10, priceMinor: 1250 })
    const placed = await placeOrder(client, owner, [
      { sku: 'MUG-1', quantity: 2 },
      { sku: 'MUG-1', quantity: 1 },
    ])
    placed.assertStatus(202)
    assertMatchesOpenApi(placed, 'POST', '/api/v1/orders')
    assert.equal(placed.body().status, 'pending')
    assert.equal(placed.body().customerEmail, 'buyer@example.com')
    const id = placed.body().id

    await drainBus()
    const confirmed = await client.get(`/api/v1/orders/${id}`).bearerToken(owner.tokens.accessToken)
    assertMatchesOpenApi(confirmed, 'GET', `/api/v1/orders/${id}`)
    assert.include(confirmed.body(), { status: 'confirmed', totalMinor: 3750, currency: 'EUR' })
    assert.deepEqual(confirmed.body().lines, [
      { sku: 'MUG-1', quantity: 3, unitPriceMinor: 1250, currency: 'EUR' },
    ])
    assert.include(await item('MUG-1'), { on_hand: 10, reserved: 3 })

    const fulfilled = await client
      .post(`/api/v1/orders/${id}/fulfil`)
      .bearerToken(owner.tokens.accessToken)
    fulfilled.assertStatus(200)
    await drainBus()
    assert.include(await item('MUG-1'), { on_hand: 7, reserved: 0 })
    const shown = await client.get(`/api/v1/orders/${id}`).bearerToken(owner.tokens.accessToken)
    assert.deepEqual(
      shown
        .body()
        .history.map((entry: { from: string | null; to: string }) => [entry.from, entry.to]),
      [
        [null, 'pending'],
        ['pending', 'confirmed'],
        ['confirmed', 'fulfilled'],
      ]
    )
    const ledger = await client
      .get('/api/v1/inventory/items/MUG-1/ledger')
      .bearerToken(owner.tokens.accessToken)
    assert.deepEqual(
      ledger
        .body()
        .data.map((entry: { kind: string; onHandDelta: number; reservedDelta: number }) => [
          entry.kind,
          entry.onHandDelta,
          entry.reservedDelta,
        ]),
      [
        ['adjustment', 10, 0],
        ['reservation', 0, 3],
        ['commit', -3, -3],
      ]
    )
  })

  test('not enough stock → rejected, naming the short SKUs; nothing reserved', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'A', onHand: 5 })
    await createItem(client, owner, { sku: 'B', onHand: 1 })
    const placed = await placeOrder(client, owner, [
      { sku: 'A', quantity: 2 },
      { sku: 'B', quantity: 3 },
    ])
    await drainBus()
    const order = await client
      .get(`/api/v1/orders/${placed.body().id}`)
      .bearerToken(owner.tokens.accessToken)
    assert.equal(order.body().status, 'rejected')
    assert.deepEqual(order.body().shortages, [
      { sku: 'B', requested: 3, available: 1, reason: 'short' },
    ])
    assert.include(await item('A'), { reserved: 0 })
    assert.include(await item('B'), { reserved: 0 })
  })

  test('cancelling a confirmed order releases its stock; illegal transitions are 409s naming both states', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'A', onHand: 5 })
    const id = await placedId(placeOrder(client, owner, [{ sku: 'A', quantity: 4 }]))
    await drainBus()
    const cancelled = await client
      .post(`/api/v1/orders/${id}/cancel`)
      .bearerToken(owner.tokens.accessToken)
    cancelled.assertStatus(200)
    await drainBus()
    assert.include(await item('A'), { on_hand: 5, reserved: 0 })

    const again = await client
      .post(`/api/v1/orders/${id}/cancel`)
      .bearerToken(owner.tokens.accessToken)
    assertProblem(again, 409, 'illegal_transition')
    assert.include(again.body().detail, 'cancelled → cancelled')
    const fulfil = await client
      .post(`/api/v1/orders/${id}/fulfil`)
      .bearerToken(owner.tokens.accessToken)
    assertProblem(fulfil, 409, 'illegal_transition')
    assert.include(fulfil.body().detail, 'cancelled → fulfilled')

    const pending = await placedId(placeOrder(client, owner, [{ sku: 'A', quantity: 1 }]))
    const early = await client
      .post(`/api/v1/orders/${pending}/fulfil`)
      .bearerToken(owner.tokens.accessToken)
    assertProblem(early, 409, 'illegal_transition')
    assert.include(early.body().detail, 'pending → fulfilled')
  })

  test('cancelled while pending: the reservation that arrives later is given back', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'A', onHand: 5 })
    const id = await placedId(placeOrder(client, owner, [{ sku: 'A', quantity: 3 }]))
    const cancelled = await client
      .post(`/api/v1/orders/${id}/cancel`)
      .bearerToken(owner.tokens.accessToken)
    cancelled.assertStatus(200)
    await drainBus()
    const order = await db.from('orders_orders').where('id', id).first()
    assert.equal(order.status, 'cancelled')
    assert.include(await item('A'), { on_hand: 5, reserved: 0 })
  })

  test('bad input and other tenants: a clear problem, and nothing changes', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'A', onHand: 5 })
    assertProblem(
      await placeOrder(client, owner, [{ sku: 'NOPE', quantity: 1 }]),
      422,
      'validation_failed'
    )
    assertProblem(
      await placeOrder(client, owner, [{ sku: 'A', quantity: 0 }]),
      422,
      'validation_failed'
    )
    assertProblem(
      await placeOrder(client, owner, [{ sku: 'A', quantity: -2 }]),
      422,
      'validation_failed'
    )
    assertProblem(await placeOrder(client, owner, []), 422, 'validation_failed')
    const noKey = await client
      .post('/api/v1/orders')
      .bearerToken(owner.tokens.accessToken)
      .json({ lines: [{ sku: 'A', quantity: 1 }], customerEmail: 'a@example.com' })
    assertProblem(noKey, 400, 'idempotency_key_required')
    const [{ count }] = await db.from('orders_orders').count('* as count')
    assert.equal(Number(count), 0)

    const id = await placedId(placeOrder(client, owner, [{ sku: 'A', quantity: 1 }]))
    const stranger = await registerUser(client)
    assertProblem(
      await client.get(`/api/v1/orders/${id}`).bearerToken(stranger.tokens.accessToken),
      404,
      'order_not_found'
    )
    assertProblem(
      await client.post(`/api/v1/orders/${id}/cancel`).bearerToken(stranger.tokens.accessToken),
      404,
      'order_not_found'
    )
    assertProblem(
      await client.get(`/api/v1/orders/${randomUUID()}`).bearerToken(owner.tokens.accessToken),
      404,
      'order_not_found'
    )
    assertProblem(
      await client.get('/api/v1/orders/not-an-id').bearerToken(owner.tokens.accessToken),
      404,
      'order_not_found'
    )
    const adjust = await client
      .post('/api/v1/inventory/items/A/adjustments')
      .bearerToken(owner.tokens.accessToken)
      .json({ delta: 0, reason: 'nothing' })
    assertProblem(adjust, 422, 'validation_failed')
    const below = await client
      .post('/api/v1/inventory/items/A/adjustments')
      .bearerToken(owner.tokens.accessToken)
      .json({ delta: -6, reason: 'broken' })
    assertProblem(below, 409, 'insufficient_stock')
    assert.include(await item('A'), { on_hand: 5 })
  })

  test('idempotency: same key and body → the same order, even at once; another body → 422', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'A', onHand: 5 })
    const key = randomUUID()
    const first = await placeOrder(client, owner, [{ sku: 'A', quantity: 1 }], key)
    const replay = await placeOrder(client, owner, [{ sku: 'A', quantity: 1 }], key)
    assert.equal(replay.status(), 202)
    assert.equal(replay.body().id, first.body().id)
    assertProblem(
      await placeOrder(client, owner, [{ sku: 'A', quantity: 2 }], key),
      422,
      'idempotency_key_reused'
    )

    const together = randomUUID()
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        placeOrder(client, owner, [{ sku: 'A', quantity: 1 }], together)
      )
    )
    const created = answers.filter((answer) => answer.status() === 202)
    assert.isAtLeast(created.length, 1)
    assert.lengthOf(new Set(created.map((answer) => answer.body().id)), 1)
    // The others were told the first attempt was still running.
    assert.isTrue(answers.every((answer) => [202, 409].includes(answer.status())))
    await drainBus()
    const [{ count }] = await db.from('orders_orders').count('* as count')
    assert.equal(Number(count), 2)
    assert.include(await item('A'), { reserved: 2 })
  })

  test('no oversell: 50 in stock, 500 concurrent orders of one unit → exactly 50 confirmed', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'HOT', onHand: 50 })
    const base = `http://127.0.0.1:${env.get('PORT')}`
    const statuses = await Promise.all(
      Array.from({ length: 500 }, () =>
        fetch(`${base}/api/v1/orders`, {
          method: 'POST',
          headers: {
            'authorization': `Bearer ${owner.tokens.accessToken}`,
            'content-type': 'application/json',
            'idempotency-key': randomUUID(),
          },
          body: JSON.stringify({
            lines: [{ sku: 'HOT', quantity: 1 }],
            customerEmail: 'a@example.com',
          }),
        }).then(async (response) => {
          await response.text()
          return response.status
        })
      )
    )
    assert.isTrue(statuses.every((status) => status === 202))
    await drainBus()
    const { rows } = await db.rawQuery(
      `SELECT status, count(*)::int AS count FROM orders_orders GROUP BY status ORDER BY status`
    )
    assert.deepEqual(rows, [
      { status: 'confirmed', count: 50 },
      { status: 'rejected', count: 450 },
    ])
    const stock = await item('HOT')
    assert.include(stock, { on_hand: 50, reserved: 50 })
    const [{ reserved }] = await db
      .from('inventory_ledger')
      .where({ sku: 'HOT', kind: 'reservation' })
      .sum('reserved_delta as reserved')
    assert.equal(Number(reserved), 50)
  }).timeout(120_000)

  test('no oversell with mixed multi-line orders sharing SKUs', async ({ client, assert }) => {
    const owner = await registerUser(client)
    for (const sku of ['X', 'Y', 'Z']) await createItem(client, owner, { sku, onHand: 20 })
    const shapes = [
      [
        { sku: 'X', quantity: 1 },
        { sku: 'Y', quantity: 1 },
      ],
      [
        { sku: 'Z', quantity: 2 },
        { sku: 'X', quantity: 1 },
      ],
      [{ sku: 'Y', quantity: 3 }],
      [
        { sku: 'Z', quantity: 1 },
        { sku: 'Y', quantity: 1 },
        { sku: 'X', quantity: 1 },
      ],
    ]
    const answers = await Promise.all(
      Array.from({ length: 120 }, (_, index) =>
        placeOrder(client, owner, shapes[index % shapes.length])
      )
    )
    assert.isTrue(answers.every((answer) => answer.status() === 202))
    await drainBus()
    const confirmed = await db.from('orders_orders').where('status', 'confirmed').select('lines')
    const reservedBySku: Record<string, number> = { X: 0, Y: 0, Z: 0 }
    for (const order of confirmed) {
      for (const line of order.lines as Array<{ sku: string; quantity: number }>) {
        reservedBySku[line.sku] += line.quantity
      }
    }
    for (const sku of ['X', 'Y', 'Z']) {
      const row = await item(sku)
      assert.equal(row.reserved, reservedBySku[sku], `reserved ${sku} matches the confirmed orders`)
      assert.isAtMost(row.reserved, row.on_hand, `no oversell of ${sku}`)
    }
    const [{ pending }] = await db
      .from('orders_orders')
      .where('status', 'pending')
      .count('* as pending')
    assert.equal(Number(pending), 0, 'every order was answered')
  }).timeout(120_000)
})
