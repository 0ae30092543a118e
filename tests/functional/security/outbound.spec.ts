import { test } from '@japa/runner'
import dns from 'node:dns'
import db from '@adonisjs/lucid/services/db'
import { newId } from '#app/platform/ids'
import { outboundRequest, setOutboundAllowlist, parseAllowlist } from '#app/http/outbound'
import { startHttpFake, type HttpFake } from '#tests/fakes/http_fake'
import { startOpenAiFake } from '#tests/fakes/llm_upstreams'
import { assertProblem } from '#tests/helpers/openapi'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { createProvider, gatewayTenant, openaiClient, resetGateway } from '#tests/helpers/gateway'
import { deliverDueWebhooks } from '#modules/notifications/services/webhooks'

/**
 * The test environment allows loopback (OUTBOUND_ALLOWLIST in .env.test) so
 * the fakes are reachable; these tests switch the policy on by emptying it.
 */
function policyOn() {
  const previous = setOutboundAllowlist([])
  return () => setOutboundAllowlist(previous)
}

function localSpellings(port: number) {
  return [
    `http://127.0.0.1:${port}/hook`,
    `http://localhost:${port}/hook`,
    `http://api.localhost:${port}/hook`,
    `http://[::1]:${port}/hook`,
    `http://0.0.0.0:${port}/hook`,
    `http://169.254.169.254/latest/meta-data/`,
    `http://2130706433:${port}/hook`,
    `http://0x7f.1:${port}/hook`,
    `http://017700000001:${port}/hook`,
    `http://[::ffff:127.0.0.1]:${port}/hook`,
    `http://10.0.0.7/hook`,
    `http://192.168.1.1/hook`,
    `http://172.16.0.1/hook`,
    `http://100.64.0.1/hook`,
    `http://[fd00::1]/hook`,
    `http://[fe80::1]/hook`,
    `http://224.0.0.1/hook`,
  ]
}

test.group('outbound requests to tenant-supplied URLs', (group) => {
  let receiver: HttpFake
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    await db.rawQuery('TRUNCATE notifications_webhook_deliveries, notifications_webhooks CASCADE')
    receiver = await startHttpFake({
      'POST /hook': (_request, response) => {
        response.writeHead(204).end()
      },
      'POST /v1/chat/completions': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' }).end('{"secret":"internal"}')
      },
    })
    const restore = policyOn()
    return async () => {
      restore()
      await receiver.close()
    }
  })

  test('webhook URLs on loopback, private or reserved addresses are refused when stored', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const port = Number(new URL(receiver.url).port)
    for (const url of localSpellings(port)) {
      const response = await client
        .post('/api/v1/webhooks')
        .bearerToken(owner.tokens.accessToken)
        .json({ url, eventTypes: ['orders.order_confirmed'] })
      assertProblem(response, 422, 'validation_failed')
      assert.equal(response.body().errors[0].field, 'url', url)
    }
    const stored = await db.from('notifications_webhooks').count('* as n').first()
    assert.equal(Number(stored.n), 0)
  })

  test('provider base URLs likewise, on create and on update; credentials in them too', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const port = Number(new URL(receiver.url).port)
    for (const url of [...localSpellings(port), 'https://user:pass@api.example.com/v1']) {
      const response = await client
        .post('/api/v1/gateway/providers')
        .bearerToken(owner.tokens.accessToken)
        .json({ name: 'p', kind: 'openai-compatible', baseUrl: url })
      assertProblem(response, 422, 'validation_failed')
      assert.equal(response.body().errors[0].field, 'baseUrl', url)
    }
    const provider = await createProvider(client, owner, {
      name: 'public',
      kind: 'openai-compatible',
      baseUrl: 'https://api.example.com/v1',
    })
    const patched = await client
      .patch(`/api/v1/gateway/providers/${provider.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ baseUrl: `http://127.0.0.1:${port}/v1` })
    assertProblem(patched, 422, 'validation_failed')
    const row = await db.from('gateway_providers').where('id', provider.id).first()
    assert.equal(row.base_url, 'https://api.example.com/v1')
  })

  test('an operator allowlist lets one origin through, and only that origin', async ({
    client,
  }) => {
    const owner = await registerUser(client)
    setOutboundAllowlist(parseAllowlist(receiver.url))
    const allowed = await client
      .post('/api/v1/webhooks')
      .bearerToken(owner.tokens.accessToken)
      .json({ url: `${receiver.url}/hook`, eventTypes: ['orders.order_confirmed'] })
    allowed.assertStatus(201)
    const otherPort = await client
      .post('/api/v1/webhooks')
      .bearerToken(owner.tokens.accessToken)
      .json({ url: `http://127.0.0.1:1/hook`, eventTypes: ['orders.order_confirmed'] })
    assertProblem(otherPort, 422, 'validation_failed')
  })

  test('a stored URL whose name now resolves to loopback is refused at connect time', async ({
    assert,
    cleanup,
  }) => {
    // DNS rebinding: the name was public when stored; now it answers 127.0.0.1.
    const port = new URL(receiver.url).port
    const realLookup = dns.lookup
    ;(dns as { lookup: unknown }).lookup = (
      hostname: string,
      options: dns.LookupOptions,
      callback: (error: Error | null, addresses: dns.LookupAddress[]) => void
    ) => {
      if (hostname === 'hooks.rebind.test')
        return callback(null, [{ address: '127.0.0.1', family: 4 }])
      return realLookup(hostname, options as dns.LookupAllOptions, callback)
    }
    cleanup(() => {
      ;(dns as { lookup: unknown }).lookup = realLookup
    })

    const tenant = await db
      .table('identity_tenants')
      .insert({ id: newId(), name: 'T', slug: `t-${newId()}` })
      .returning('id')
    const tenantId = tenant[0].id
    const webhookId = newId()
    await db.table('notifications_webhooks').insert({
      id: webhookId,
      tenant_id: tenantId,
      url: `http://hooks.rebind.test:${port}/hook`,
      event_types: ['orders.order_confirmed'],
      secret_encrypted: 'unused',
    })
    await db.table('notifications_webhook_deliveries').insert({
      id: newId(),
      tenant_id: tenantId,
      webhook_id: webhookId,
      event_id: newId(),
      event_type: 'orders.order_confirmed',
      payload: JSON.stringify({ hello: 'world' }),
    })
    // The secret is decrypted before sending: give it a real one.
    const { default: encryption } = await import('@adonisjs/core/services/encryption')
    await db
      .from('notifications_webhooks')
      .where('id', webhookId)
      .update({
        secret_encrypted: encryption.encrypt(
          'whsec_test',
          undefined,
          'notifications.webhook_secret'
        ),
      })

    assert.equal(await deliverDueWebhooks(), 1)
    const delivery = await db.from('notifications_webhook_deliveries').first()
    assert.equal(delivery.last_error, 'destination not allowed')
    assert.isNull(delivery.last_status_code)
    assert.lengthOf(receiver.requests, 0, 'the loopback receiver was reached')

    // The client itself, for every caller: refused the same way.
    await assert.rejects(
      () => outboundRequest(`http://hooks.rebind.test:${port}/hook`, { method: 'POST' }),
      /destination not allowed/
    )
    assert.lengthOf(receiver.requests, 0)
  })

  test('a provider pointing at loopback is never called, and its body never reaches /v1', async ({
    client,
    assert,
  }) => {
    // Stored while allowed (an operator's exception), then the exception was removed.
    setOutboundAllowlist(parseAllowlist(receiver.url))
    const { key } = await gatewayTenant(client, { url: receiver.url })
    setOutboundAllowlist([])
    const sdk = openaiClient(key.secret)
    const error = await sdk.chat.completions
      .create({ model: 'chat-default', messages: [{ role: 'user', content: 'hi' }] })
      .then(
        () => null,
        (failure: unknown) => failure as { status?: number; message?: string }
      )
    assert.equal(error?.status, 502)
    assert.notInclude(error?.message ?? '', 'internal')
    assert.lengthOf(receiver.requests, 0)
  })

  test('changing a provider to another host drops its stored key unless a new one is given', async ({
    client,
    assert,
  }) => {
    setOutboundAllowlist(parseAllowlist('http://127.0.0.1:*'))
    const first = await startOpenAiFake()
    const second = await startOpenAiFake()
    try {
      const { owner, provider, key } = await gatewayTenant(client, first)
      const moved = await client
        .patch(`/api/v1/gateway/providers/${provider.id}`)
        .bearerToken(owner.tokens.accessToken)
        .json({ baseUrl: `${second.url}/v1` })
      moved.assertStatus(200)
      assert.isFalse(moved.body().hasApiKey)
      await openaiClient(key.secret).chat.completions.create({
        model: 'chat-default',
        messages: [{ role: 'user', content: 'hi' }],
      })
      const sent = second.requests.find((entry) => entry.path === '/v1/chat/completions')
      assert.exists(sent)
      assert.isUndefined(sent!.headers.authorization, 'the old key followed the URL')

      // Same host, another path: the key stays. A key given with the move is kept.
      const samePlace = await client
        .patch(`/api/v1/gateway/providers/${provider.id}`)
        .bearerToken(owner.tokens.accessToken)
        .json({ baseUrl: `${second.url}/v1/`, apiKey: 'sk-new-key-456' })
      assert.isTrue(samePlace.body().hasApiKey)
      const pathOnly = await client
        .patch(`/api/v1/gateway/providers/${provider.id}`)
        .bearerToken(owner.tokens.accessToken)
        .json({ baseUrl: `${second.url}/api/v1` })
      assert.isTrue(pathOnly.body().hasApiKey)
    } finally {
      await first.close()
      await second.close()
    }
  })
})
