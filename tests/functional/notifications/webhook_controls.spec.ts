import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { createWebhook, startReceiver, verifies } from '#tests/helpers/webhook_receiver'
import { setOutboundAllowlist } from '#app/http/outbound'
import { assertProblem } from '#tests/helpers/openapi'
import { resetModuleTables } from '#tests/helpers/database'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'

const signaturesIn = (header: string) => header.split(',').filter((part) => part.startsWith('v1='))

test.group('webhook controls: change, re-enable, rotate the secret, send a test', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetModuleTables('notifications')
  })

  async function webhookOf(client: Parameters<typeof registerUser>[0], url: string) {
    const owner = await registerUser(client)
    return { owner, webhook: await createWebhook(client, owner, url, ['orders.order_confirmed']) }
  }

  test('a test delivery is signed, logged, and says what the receiver answered', async ({
    client,
    assert,
    cleanup,
  }) => {
    const receiver = await startReceiver()
    cleanup(() => receiver.close())
    const { owner, webhook } = await webhookOf(client, receiver.url)

    const sent = await client
      .post(`/api/v1/webhooks/${webhook.id}/test`)
      .bearerToken(owner.tokens.accessToken)
    sent.assertStatus(200)
    assert.include(sent.body(), {
      eventType: 'webhook.ping',
      status: 'delivered',
      attempts: 1,
      lastStatusCode: 200,
    })
    assert.lengthOf(receiver.received, 1)
    const [ping] = receiver.received
    assert.equal(ping.headers['atrium-event'], 'webhook.ping')
    assert.equal(ping.headers['atrium-delivery'], sent.body().id)
    assert.isTrue(verifies(webhook.secret, String(ping.headers['atrium-signature']), ping.body))
    assert.deepInclude(JSON.parse(ping.body), {
      type: 'webhook.ping',
      data: { webhookId: webhook.id, message: 'A test delivery from Atrium.' },
    })

    receiver.answer(500)
    const failed = await client
      .post(`/api/v1/webhooks/${webhook.id}/test`)
      .bearerToken(owner.tokens.accessToken)
    failed.assertStatus(200)
    assert.include(failed.body(), {
      status: 'pending',
      lastStatusCode: 500,
      lastError: 'answered 500',
    })
    const log = await client
      .get(`/api/v1/webhooks/${webhook.id}/deliveries`)
      .bearerToken(owner.tokens.accessToken)
    assert.deepEqual(
      log.body().data.map((entry: { id: string }) => entry.id),
      [failed.body().id, sent.body().id]
    )
  })

  test('rotating the secret: both sign during the grace period, then only the new one', async ({
    client,
    assert,
    cleanup,
  }) => {
    const receiver = await startReceiver()
    cleanup(() => receiver.close())
    const { owner, webhook } = await webhookOf(client, receiver.url)
    const rotated = await client
      .post(`/api/v1/webhooks/${webhook.id}/rotate-secret`)
      .bearerToken(owner.tokens.accessToken)
      .json({ gracePeriodSeconds: 3600 })
    rotated.assertStatus(200)
    const newSecret = rotated.body().secret as string
    assert.match(newSecret, /^whsec_/)
    assert.notEqual(newSecret, webhook.secret)
    assert.isString(rotated.body().previousSecretExpiresAt)
    assert.notProperty(rotated.body(), 'secretEncrypted')

    await client
      .post(`/api/v1/webhooks/${webhook.id}/test`)
      .bearerToken(owner.tokens.accessToken)
      .then((response) => response.assertStatus(200))
    const during = receiver.received.at(-1)!
    const header = String(during.headers['atrium-signature'])
    assert.lengthOf(signaturesIn(header), 2)
    assert.isTrue(verifies(newSecret, header, during.body))
    assert.isTrue(verifies(webhook.secret, header, during.body))

    // A second rotation with no grace: only the newest signs; both older ones fail.
    const again = await client
      .post(`/api/v1/webhooks/${webhook.id}/rotate-secret`)
      .bearerToken(owner.tokens.accessToken)
      .json({ gracePeriodSeconds: 0 })
    again.assertStatus(200)
    assert.isNull(again.body().previousSecretExpiresAt)
    await client
      .post(`/api/v1/webhooks/${webhook.id}/test`)
      .bearerToken(owner.tokens.accessToken)
      .then((response) => response.assertStatus(200))
    const after = receiver.received.at(-1)!
    const latest = String(after.headers['atrium-signature'])
    assert.lengthOf(signaturesIn(latest), 1)
    assert.isTrue(verifies(again.body().secret, latest, after.body))
    assert.isFalse(verifies(newSecret, latest, after.body))
    assert.isFalse(verifies(webhook.secret, latest, after.body))
  })

  test('the old secret stops signing when its grace period ends', async ({
    client,
    assert,
    cleanup,
  }) => {
    const receiver = await startReceiver()
    cleanup(() => receiver.close())
    const { owner, webhook } = await webhookOf(client, receiver.url)
    const rotated = await client
      .post(`/api/v1/webhooks/${webhook.id}/rotate-secret`)
      .bearerToken(owner.tokens.accessToken)
      .json({})
    rotated.assertStatus(200)
    const expires = new Date(rotated.body().previousSecretExpiresAt).getTime()
    assert.closeTo(expires - Date.now(), 24 * 3600 * 1000, 60_000)
    // The grace period ran out.
    await db
      .from('notifications_webhooks')
      .where('id', webhook.id)
      .update({ previous_secret_expires_at: db.raw(`now() - interval '1 second'`) })
    await client
      .post(`/api/v1/webhooks/${webhook.id}/test`)
      .bearerToken(owner.tokens.accessToken)
      .then((response) => response.assertStatus(200))
    const last = receiver.received.at(-1)!
    const header = String(last.headers['atrium-signature'])
    assert.lengthOf(signaturesIn(header), 1)
    assert.isFalse(verifies(webhook.secret, header, last.body))
    assert.isTrue(verifies(rotated.body().secret, header, last.body))
  })

  test('PATCH changes the URL and event types; enabled: true re-enables after the automatic disable', async ({
    client,
    assert,
    cleanup,
  }) => {
    const receiver = await startReceiver()
    cleanup(() => receiver.close())
    const { owner, webhook } = await webhookOf(client, 'https://example.com/hooks/old')
    // What the delivery worker does after a run of failures.
    await db
      .from('notifications_webhooks')
      .where('id', webhook.id)
      .update({
        active: false,
        consecutive_failures: 10,
        disabled_at: db.raw('now()'),
        disabled_reason: '10 failed deliveries in a row (last: answered 503)',
      })

    const changed = await client
      .patch(`/api/v1/webhooks/${webhook.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({
        url: receiver.url,
        eventTypes: ['orders.order_confirmed', 'orders.order_rejected'],
        description: 'shop',
        enabled: true,
      })
    changed.assertStatus(200)
    assert.include(changed.body(), {
      url: receiver.url,
      description: 'shop',
      active: true,
      consecutiveFailures: 0,
      disabledAt: null,
      disabledReason: null,
    })
    assert.deepEqual(changed.body().eventTypes, ['orders.order_confirmed', 'orders.order_rejected'])

    const disabled = await client
      .patch(`/api/v1/webhooks/${webhook.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ enabled: false })
    assert.include(disabled.body(), { active: false, disabledReason: 'disabled by an admin' })
    const row = await db.from('notifications_webhooks').where('id', webhook.id).first()
    assert.isFalse(row.active)
    assert.equal(row.url, receiver.url)
  })

  test('bad input, another tenant and a member: a clear problem, nothing changed', async ({
    client,
    assert,
    cleanup,
  }) => {
    const { owner, webhook } = await webhookOf(client, 'https://example.com/hooks/a')
    // The address policy as production has it (tests allow loopback for their receivers).
    const previousAllowlist = setOutboundAllowlist([])
    cleanup(() => {
      setOutboundAllowlist(previousAllowlist)
    })
    for (const body of [
      { url: 'ftp://example.com/hook' },
      { url: 'https://user:pw@example.com/hook' },
      { url: 'http://127.0.0.1:9/hook' },
      { eventTypes: ['orders.order_exploded'] },
      { eventTypes: [] },
      { enabled: 'yes' },
    ]) {
      assertProblem(
        await client
          .patch(`/api/v1/webhooks/${webhook.id}`)
          .bearerToken(owner.tokens.accessToken)
          .json(body),
        422,
        'validation_failed'
      )
    }
    assertProblem(
      await client
        .post(`/api/v1/webhooks/${webhook.id}/rotate-secret`)
        .bearerToken(owner.tokens.accessToken)
        .json({ gracePeriodSeconds: 30 * 24 * 3600 }),
      422,
      'validation_failed'
    )
    const stranger = await registerUser(client)
    for (const [method, path] of [
      ['patch', `/api/v1/webhooks/${webhook.id}`],
      ['post', `/api/v1/webhooks/${webhook.id}/rotate-secret`],
      ['post', `/api/v1/webhooks/${webhook.id}/test`],
    ] as const) {
      assertProblem(
        await client[method](path)
          .bearerToken(stranger.tokens.accessToken)
          .json({ enabled: false }),
        404,
        'webhook_not_found'
      )
    }
    const member = await joinAs(client, owner, 'member')
    assertProblem(
      await client
        .post(`/api/v1/webhooks/${webhook.id}/rotate-secret`)
        .bearerToken(member.token)
        .json({}),
      403,
      'forbidden'
    )
    const row = await db.from('notifications_webhooks').where('id', webhook.id).first()
    assert.include(row, { url: 'https://example.com/hooks/a', active: true })
    assert.isNull(row.previous_secret_encrypted)
    const deliveries = await db.from('notifications_webhook_deliveries').count('* as n').first()
    assert.equal(Number(deliveries.n), 0)
  })
})
