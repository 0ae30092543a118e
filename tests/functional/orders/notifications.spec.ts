import { test } from '@japa/runner'
import { resetModuleTables } from '#tests/helpers/database'
import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import db from '@adonisjs/lucid/services/db'
import { createWebhook, startReceiver, verifies } from '#tests/helpers/webhook_receiver'
import app from '@adonisjs/core/services/app'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, placeOrder, resetOrders } from '#tests/helpers/orders'
import { drainBus } from '#tests/helpers/waiting'
import { deliverDueWebhooks } from '#modules/notifications/services/webhooks'
import { sendDueEmails } from '#modules/notifications/services/notifications'

const MAIL_DIR = () => app.makePath('tmp', 'mail-test')

test.group('notifications: in-app, email and signed webhooks for the order saga', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
    await resetModuleTables('notifications')
    await rm(MAIL_DIR(), { recursive: true, force: true })
  })

  test('confirmed and rejected orders notify in-app, mail the customer and call signed webhooks', async ({
    client,
    assert,
    cleanup,
  }) => {
    const receiver = await startReceiver()
    cleanup(() => receiver.close())
    const owner = await registerUser(client)
    const created = await client
      .post('/api/v1/webhooks')
      .bearerToken(owner.tokens.accessToken)
      .json({ url: receiver.url, eventTypes: ['orders.order_confirmed', 'orders.order_rejected'] })
    created.assertStatus(201)
    assertMatchesOpenApi(created, 'POST', '/api/v1/webhooks')
    const { id: webhookId, secret } = created.body()
    assert.match(secret, /^whsec_/)
    const listed = await client.get('/api/v1/webhooks').bearerToken(owner.tokens.accessToken)
    assert.notInclude(listed.text(), secret, 'the secret is shown once')

    await createItem(client, owner, { sku: 'A', onHand: 1 })
    const firstPlaced = await placeOrder(client, owner, [{ sku: 'A', quantity: 1 }])
    const first = firstPlaced.body().id
    const secondPlaced = await placeOrder(client, owner, [{ sku: 'A', quantity: 1 }])
    const second = secondPlaced.body().id
    await drainBus()
    // Redelivering every event changes nothing: one notification, mail and delivery each.
    await db
      .from('messaging_deliveries')
      .update({ state: 'pending', available_at: db.raw('now()') })
    await drainBus()
    assert.equal(await deliverDueWebhooks(), 2)
    assert.equal(await sendDueEmails(), 2)

    assert.lengthOf(receiver.received, 2)
    const byType = Object.fromEntries(
      receiver.received.map((request) => [request.headers['atrium-event'], request])
    )
    // One unit in stock for two orders: which one wins depends on the handlers' order.
    const outcome = async (status: string) => {
      const row = await db.from('orders_orders').where('status', status).firstOrFail()
      return row.id as string
    }
    assert.sameMembers([await outcome('confirmed'), await outcome('rejected')], [first, second])
    for (const [type, orderId] of [
      ['orders.order_confirmed', await outcome('confirmed')],
      ['orders.order_rejected', await outcome('rejected')],
    ]) {
      const request = byType[type]
      assert.exists(request, type)
      assert.isTrue(
        verifies(secret, String(request.headers['atrium-signature']), request.body),
        'signature'
      )
      assert.isFalse(
        verifies('whsec_wrong', String(request.headers['atrium-signature']), request.body)
      )
      const body = JSON.parse(request.body)
      assert.equal(body.type, type)
      assert.equal(body.data.orderId, orderId)
    }

    const inApp = await client.get('/api/v1/notifications').bearerToken(owner.tokens.accessToken)
    assertMatchesOpenApi(inApp, 'GET', '/api/v1/notifications')
    assert.sameMembers(
      inApp.body().data.map((entry: { kind: string }) => entry.kind),
      ['orders.order_confirmed', 'orders.order_rejected']
    )
    const newest = inApp.body().data[0]
    const read = await client
      .post(`/api/v1/notifications/${newest.id}/read`)
      .bearerToken(owner.tokens.accessToken)
    assert.isString(read.body().readAt)
    const unread = await client
      .get('/api/v1/notifications?unread=true')
      .bearerToken(owner.tokens.accessToken)
    assert.lengthOf(unread.body().data, 1)

    // Only the customer's mail: the owner's verification mail lands in the same folder.
    const files = await readdir(MAIL_DIR())
    const everything = await Promise.all(
      files.map((file) => readFile(join(MAIL_DIR(), file), 'utf8'))
    )
    const mails = everything.filter((text) => text.includes('To: buyer@example.com'))
    assert.lengthOf(mails, 2)
    assert.isTrue(mails.some((text) => text.includes('Subject: Your order is confirmed')))

    const log = await client
      .get(`/api/v1/webhooks/${webhookId}/deliveries`)
      .bearerToken(owner.tokens.accessToken)
    assertMatchesOpenApi(log, 'GET', `/api/v1/webhooks/${webhookId}/deliveries`)
    assert.deepEqual(
      log
        .body()
        .data.map((entry: { status: string; lastStatusCode: number }) => [
          entry.status,
          entry.lastStatusCode,
        ]),
      [
        ['delivered', 200],
        ['delivered', 200],
      ]
    )
  })

  test('orders handled together: each event reaches every endpoint that wants its type, once', async ({
    client,
    assert,
    cleanup,
  }) => {
    const receiver = await startReceiver()
    cleanup(() => receiver.close())
    const owner = await registerUser(client)
    const other = await registerUser(client)
    const hook = async (who: typeof owner, eventTypes: string[]) => {
      const webhook = await createWebhook(client, who, receiver.url, eventTypes)
      return webhook.id
    }
    const confirmedOnly = await hook(owner, ['orders.order_confirmed'])
    const both = await hook(owner, ['orders.order_confirmed', 'orders.order_rejected'])
    const rejectedOnly = await hook(owner, ['orders.order_rejected'])
    const removed = await hook(owner, ['orders.order_confirmed'])
    await client.delete(`/api/v1/webhooks/${removed}`).bearerToken(owner.tokens.accessToken)
    // Another tenant's endpoint for the same types hears nothing of these orders.
    const elsewhere = await hook(other, ['orders.order_confirmed', 'orders.order_rejected'])

    await createItem(client, owner, { sku: 'A', onHand: 3 })
    for (let index = 0; index < 5; index++) {
      const response = await placeOrder(client, owner, [{ sku: 'A', quantity: 1 }])
      response.assertStatus(202)
    }
    // Placed before the bus runs, so each subscriber gets them as one batch.
    await drainBus()

    const events = await db
      .from('messaging_outbox')
      .whereIn('type', ['orders.order_confirmed', 'orders.order_rejected'])
      .select('id', 'type')
    assert.lengthOf(events, 5)
    const deliveries = await db
      .from('notifications_webhook_deliveries')
      .select('webhook_id', 'event_id', 'event_type')
    const expected = events.flatMap((event) =>
      (event.type === 'orders.order_confirmed' ? [confirmedOnly, both] : [both, rejectedOnly]).map(
        (webhookId) => `${webhookId} ${event.id} ${event.type}`
      )
    )
    assert.sameMembers(
      deliveries.map((row) => `${row.webhook_id} ${row.event_id} ${row.event_type}`),
      expected
    )
    assert.equal(events.filter((event) => event.type === 'orders.order_confirmed').length, 3)
    assert.notInclude(
      deliveries.map((row) => row.webhook_id),
      elsewhere
    )
  })

  test('a failing endpoint is retried with backoff, then disabled after a run of failures', async ({
    client,
    assert,
    cleanup,
  }) => {
    const receiver = await startReceiver()
    cleanup(() => receiver.close())
    const owner = await registerUser(client)
    const created = await client
      .post('/api/v1/webhooks')
      .bearerToken(owner.tokens.accessToken)
      .json({ url: receiver.url, eventTypes: ['orders.order_confirmed'] })
    const webhookId = created.body().id
    await createItem(client, owner, { sku: 'A', onHand: 5 })
    await placeOrder(client, owner, [{ sku: 'A', quantity: 1 }])
    await drainBus()

    receiver.answer(500)
    assert.equal(await deliverDueWebhooks(), 1)
    const [failed] = await db.from('notifications_webhook_deliveries')
    assert.include(failed, { status: 'pending', attempts: 1, last_status_code: 500 })
    assert.isAbove(new Date(failed.next_attempt_at).getTime(), Date.now() + 1000, 'backing off')
    assert.equal(await deliverDueWebhooks(), 0, 'not before its next attempt')

    receiver.answer(204)
    await db.from('notifications_webhook_deliveries').update({ next_attempt_at: db.raw('now()') })
    assert.equal(await deliverDueWebhooks(), 1)
    const [delivered] = await db.from('notifications_webhook_deliveries')
    assert.include(delivered, { status: 'delivered', attempts: 2, last_status_code: 204 })

    // A run of failures (the tenth in a row) disables the endpoint.
    receiver.answer(503)
    await db
      .from('notifications_webhooks')
      .where('id', webhookId)
      .update({ consecutive_failures: 9 })
    await placeOrder(client, owner, [{ sku: 'A', quantity: 1 }])
    await drainBus()
    await deliverDueWebhooks()
    const webhook = await client
      .get(`/api/v1/webhooks/${webhookId}`)
      .bearerToken(owner.tokens.accessToken)
    assert.isFalse(webhook.body().active)
    assert.match(webhook.body().disabledReason, /10 failed deliveries in a row/)
  })

  test('bad webhook input and roles: a clear problem, nothing stored', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    for (const url of ['ftp://example.com/hook', 'not a url', 'https://user:pw@example.com/hook']) {
      assertProblem(
        await client
          .post('/api/v1/webhooks')
          .bearerToken(owner.tokens.accessToken)
          .json({ url, eventTypes: ['orders.order_confirmed'] }),
        422,
        'validation_failed'
      )
    }
    assertProblem(
      await client
        .post('/api/v1/webhooks')
        .bearerToken(owner.tokens.accessToken)
        .json({ url: 'https://example.com/hook', eventTypes: ['orders.order_exploded'] }),
      422,
      'validation_failed'
    )
    const noTenant = await registerUser(client, { tenantName: undefined })
    assertProblem(
      await client
        .post('/api/v1/webhooks')
        .bearerToken(noTenant.tokens.accessToken)
        .json({ url: 'https://example.com/hook', eventTypes: ['orders.order_confirmed'] }),
      403,
      'no_active_tenant'
    )
    const [{ count }] = await db.from('notifications_webhooks').count('* as count')
    assert.equal(Number(count), 0)
  })
})
