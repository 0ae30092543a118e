import { test } from '@japa/runner'
import { resetModuleTables } from '#tests/helpers/database'
import type { Assert } from '@japa/assert'
import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import { childEnv, finished, startNode, waitForLine } from '#tests/helpers/processes'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, resetOrders } from '#tests/helpers/orders'
import { until } from '#tests/helpers/waiting'
import { purgeRabbitQueues } from '#tests/helpers/rabbitmq'

/*
| The saga with real worker processes: orders are placed over HTTP in this
| process (which runs no worker); the relay and every saga step run in the
| workers, over BullMQ or RabbitMQ.
*/

/** A webhook receiver on loopback that records what it gets. */
async function startReceiver() {
  const received: Array<{ body: string }> = []
  const server = createServer(async (request, response) => {
    let body = ''
    for await (const chunk of request) body += chunk
    received.push({ body })
    response.writeHead(204).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

interface Worker {
  child: ChildProcess
  done: ReturnType<typeof finished>
}

async function startWorker(transport: string, modules?: string): Promise<Worker> {
  const child = startNode(
    ['tests/fixtures/worker.ts'],
    childEnv({ BUS_TRANSPORT: transport, BUS_RETRY_BASE_MS: '100', ATRIUM_MODULES: modules })
  )
  const done = finished(child, 240_000)
  await waitForLine(child, /fixture worker ready/)
  return { child, done }
}

async function placeMany(
  token: string,
  count: number,
  lines: () => Array<{ sku: string; quantity: number }>
) {
  const base = `http://127.0.0.1:${env.get('PORT')}`
  return Promise.all(
    Array.from({ length: count }, () =>
      fetch(`${base}/api/v1/orders`, {
        method: 'POST',
        headers: {
          'authorization': `Bearer ${token}`,
          'content-type': 'application/json',
          'idempotency-key': randomUUID(),
        },
        body: JSON.stringify({ lines: lines(), customerEmail: 'buyer@example.com' }),
      }).then(async (response) => {
        await response.text()
        return response.status
      })
    )
  )
}

async function statusCounts() {
  const { rows } = await db.rawQuery(
    `SELECT status, count(*)::int AS count FROM orders_orders GROUP BY status ORDER BY status`
  )
  return Object.fromEntries(
    rows.map((row: { status: string; count: number }) => [row.status, row.count])
  )
}

async function settled() {
  const [{ pending }] = await db
    .from('orders_orders')
    .where('status', 'pending')
    .count('* as pending')
  return Number(pending) === 0
}

/** Stock and ledger agree with the confirmed orders: nothing reserved twice, nothing lost. */
async function assertConsistent(assert: Assert, sku: string) {
  const item = await db.from('inventory_items').where('sku', sku).firstOrFail()
  const [{ confirmed }] = await db
    .from('orders_orders')
    .where('status', 'confirmed')
    .count('* as confirmed')
  const [{ reserved }] = await db
    .from('inventory_ledger')
    .where({ sku, kind: 'reservation' })
    .sum('reserved_delta as reserved')
  assert.equal(item.reserved, Number(confirmed), 'reserved = confirmed orders')
  assert.equal(Number(reserved), Number(confirmed), 'one ledger reservation per confirmed order')
  assert.equal(item.reserved + (item.on_hand - item.reserved), item.on_hand)
  assert.isAtMost(item.reserved, item.on_hand)
}

const skipBullmq = env.get('REDIS_URL') ? undefined : 'REDIS_URL is not set'
const skipRabbit = env.get('AMQP_URL') ? undefined : 'AMQP_URL is not set'

test.group('order saga with worker processes', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
    await resetModuleTables('notifications')
  })
  group.each.timeout(240_000)

  test('bullmq, two workers: 50 in stock, 500 concurrent orders → exactly 50 confirmed', async ({
    client,
    assert,
    cleanup,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'HOT', onHand: 50 })
    const workers = await Promise.all([startWorker('bullmq'), startWorker('bullmq')])
    cleanup(() => workers.forEach((worker) => worker.child.kill('SIGKILL')))

    const statuses = await placeMany(owner.tokens.accessToken, 500, () => [
      { sku: 'HOT', quantity: 1 },
    ])
    assert.isTrue(statuses.every((status) => status === 202))
    assert.isTrue(
      await until(settled, 120_000),
      `still pending: ${JSON.stringify(await statusCounts())}`
    )
    for (const worker of workers) worker.child.kill('SIGINT')
    await Promise.all(workers.map((worker) => worker.done))

    assert.deepEqual(await statusCounts(), { confirmed: 50, rejected: 450 })
    await assertConsistent(assert, 'HOT')
  }).skip(Boolean(skipBullmq), skipBullmq)

  test('bullmq, two workers: mixed multi-line orders sharing SKUs never oversell', async ({
    client,
    assert,
    cleanup,
  }) => {
    const owner = await registerUser(client)
    for (const sku of ['X', 'Y', 'Z']) await createItem(client, owner, { sku, onHand: 25 })
    const workers = await Promise.all([startWorker('bullmq'), startWorker('bullmq')])
    cleanup(() => workers.forEach((worker) => worker.child.kill('SIGKILL')))
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
    let next = 0
    const statuses = await placeMany(
      owner.tokens.accessToken,
      200,
      () => shapes[next++ % shapes.length]
    )
    assert.isTrue(statuses.every((status) => status === 202))
    assert.isTrue(
      await until(settled, 120_000),
      `still pending: ${JSON.stringify(await statusCounts())}`
    )
    for (const worker of workers) worker.child.kill('SIGINT')
    await Promise.all(workers.map((worker) => worker.done))

    const confirmed = await db.from('orders_orders').where('status', 'confirmed').select('lines')
    const reservedBySku: Record<string, number> = { X: 0, Y: 0, Z: 0 }
    for (const order of confirmed) {
      for (const line of order.lines as Array<{ sku: string; quantity: number }>) {
        reservedBySku[line.sku] += line.quantity
      }
    }
    for (const sku of ['X', 'Y', 'Z']) {
      const item = await db.from('inventory_items').where('sku', sku).firstOrFail()
      assert.equal(item.reserved, reservedBySku[sku], `reserved ${sku} = confirmed quantities`)
      assert.isAtMost(item.reserved, item.on_hand, `no oversell of ${sku}`)
      const [{ reserved }] = await db
        .from('inventory_ledger')
        .where({ sku, kind: 'reservation' })
        .sum('reserved_delta as reserved')
      assert.equal(Number(reserved), item.reserved, `ledger of ${sku} agrees`)
    }
  }).skip(Boolean(skipBullmq), skipBullmq)

  test('bullmq: a worker SIGKILLed mid-burst, then restarted → every order answered once', async ({
    client,
    assert,
    cleanup,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'HOT', onHand: 40 })
    const receiver = await startReceiver()
    cleanup(() => receiver.close())
    const hook = await client
      .post('/api/v1/webhooks')
      .bearerToken(owner.tokens.accessToken)
      .json({ url: receiver.url, eventTypes: ['orders.order_confirmed', 'orders.order_rejected'] })
    hook.assertStatus(201)
    const first = await startWorker('bullmq')
    cleanup(() => {
      first.child.kill('SIGKILL')
    })

    const placing = placeMany(owner.tokens.accessToken, 300, () => [{ sku: 'HOT', quantity: 1 }])
    assert.isTrue(
      await until(async () => {
        const counts = await statusCounts()
        return (counts.confirmed ?? 0) + (counts.rejected ?? 0) >= 20
      }, 60_000),
      'the first worker made no progress'
    )
    first.child.kill('SIGKILL')
    await first.done
    await placing
    const atCrash = await statusCounts()
    assert.isAbove(atCrash.pending ?? 0, 0, 'the crash came too late to test anything')

    const second = await startWorker('bullmq')
    cleanup(() => {
      second.child.kill('SIGKILL')
    })
    assert.isTrue(
      await until(settled, 120_000),
      `still pending: ${JSON.stringify(await statusCounts())}`
    )
    assert.isTrue(
      await until(async () => {
        const [{ open }] = await db
          .from('notifications_webhook_deliveries')
          .whereNot('status', 'delivered')
          .count('* as open')
        const [{ all }] = await db.from('notifications_webhook_deliveries').count('* as all')
        return Number(all) === 300 && Number(open) === 0
      }, 60_000),
      'webhooks not all delivered'
    )
    second.child.kill('SIGINT')
    await second.done
    // Once per event: one notification and one webhook delivery each; the receiver saw every event
    // (a crash between its POST and the commit may repeat one: Atrium-Delivery lets it deduplicate).
    const [{ notified, events }] = await db
      .from('notifications_notifications')
      .select(
        db.raw('count(*)::int AS notified'),
        db.raw('count(DISTINCT event_id)::int AS events')
      )
    assert.deepEqual({ notified, events }, { notified: 300, events: 300 })
    const seen = new Set(receiver.received.map((request) => JSON.parse(request.body).id))
    assert.equal(seen.size, 300)

    assert.deepEqual(await statusCounts(), { confirmed: 40, rejected: 260 })
    await assertConsistent(assert, 'HOT')
    const [{ duplicates }] = await db
      .from(
        db
          .from('orders_status_history')
          .select('order_id', 'to_status')
          .count('* as times')
          .groupBy('order_id', 'to_status')
          .as('transitions')
      )
      .where('times', '>', 1)
      .count('* as duplicates')
    assert.equal(Number(duplicates), 0, 'no order went through the same transition twice')
  }).skip(Boolean(skipBullmq), skipBullmq)

  test('rabbitmq split: inventory in one worker, orders + notifications in another → the saga completes', async ({
    client,
    assert,
    cleanup,
  }) => {
    // Durable queues outlive test runs; earlier runs' events must not reach this one.
    await purgeRabbitQueues(['inventory', 'orders', 'notifications'])
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'A', onHand: 10 })
    const inventory = await startWorker('rabbitmq', 'inventory')
    const orders = await startWorker('rabbitmq', 'orders,notifications')
    cleanup(() => [inventory, orders].forEach((worker) => worker.child.kill('SIGKILL')))

    const statuses = await placeMany(owner.tokens.accessToken, 30, () => [
      { sku: 'A', quantity: 1 },
    ])
    assert.isTrue(statuses.every((status) => status === 202))
    assert.isTrue(
      await until(settled, 60_000),
      `still pending: ${JSON.stringify(await statusCounts())}`
    )
    // Orders write their notifications when they settle (notify() in the same unit of work).
    assert.isTrue(
      await until(async () => {
        const [{ notified }] = await db.from('notifications_notifications').count('* as notified')
        return Number(notified) >= 30
      }, 30_000),
      'notifications missing'
    )
    for (const worker of [inventory, orders]) worker.child.kill('SIGINT')
    await Promise.all([inventory.done, orders.done])

    assert.deepEqual(await statusCounts(), { confirmed: 10, rejected: 20 })
    await assertConsistent(assert, 'A')
    // Each step ran where its module is mounted.
    const handledBy = await db
      .from('messaging_inbox')
      .select('subscriber')
      .groupBy('subscriber')
      .orderBy('subscriber')
    assert.deepEqual(
      handledBy.map((row) => row.subscriber),
      [
        'inventory.reserve_stock',
        // Webhook fan-out for the outcome events orders declared webhook-able.
        'notifications.webhook_orders_order_confirmed',
        'notifications.webhook_orders_order_rejected',
        'orders.confirm_order',
        'orders.reject_order',
      ]
    )
    const [{ notified }] = await db.from('notifications_notifications').count('* as notified')
    assert.equal(Number(notified), 30, 'one notification per outcome')
  }).skip(Boolean(skipRabbit), skipRabbit)
})
