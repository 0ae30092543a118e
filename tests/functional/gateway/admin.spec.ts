import { test } from '@japa/runner'
import { createHash } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import OpenAI from 'openai'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import {
  chatError,
  createKey,
  gatewayTenant,
  openaiClient,
  resetGateway,
} from '#tests/helpers/gateway'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { clock } from '#app/platform/clock'

const hello = [{ role: 'user' as const, content: 'hi' }]

async function callWorks(secret: string) {
  try {
    await openaiClient(secret).chat.completions.create({ model: 'chat-default', messages: hello })
    return true
  } catch (error) {
    if (error instanceof OpenAI.AuthenticationError) return false
    throw error
  }
}

test.group('gateway admin API', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    upstream = await startOpenAiFake()
    return () => upstream.close()
  })

  test('providers: the upstream API key is stored encrypted and never returned', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const created = await client
      .post('/api/v1/gateway/providers')
      .bearerToken(owner.tokens.accessToken)
      .json({
        name: 'openai',
        kind: 'openai-compatible',
        baseUrl: 'https://api.example.com/v1/',
        apiKey: 'sk-very-secret-upstream-key',
      })
    created.assertStatus(201)
    assertMatchesOpenApi(created, 'POST', '/api/v1/gateway/providers')
    assert.include(created.body(), { hasApiKey: true, baseUrl: 'https://api.example.com/v1' })
    assert.notInclude(created.text(), 'sk-very-secret')

    const row = await db.from('gateway_providers').where('id', created.body().id).first()
    assert.notInclude(row.api_key_encrypted, 'sk-very-secret')

    const listed = await client
      .get('/api/v1/gateway/providers')
      .bearerToken(owner.tokens.accessToken)
    assertMatchesOpenApi(listed, 'GET', '/api/v1/gateway/providers')
    assert.notInclude(listed.text(), 'sk-very-secret')

    const cleared = await client
      .patch(`/api/v1/gateway/providers/${created.body().id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ apiKey: null })
    assert.isFalse(cleared.body().hasApiKey)

    const duplicate = await client
      .post('/api/v1/gateway/providers')
      .bearerToken(owner.tokens.accessToken)
      .json({ name: 'openai', kind: 'ollama', baseUrl: 'http://127.0.0.1:11434' })
    assertProblem(duplicate, 409, 'provider_name_taken')
    const invalid = await client
      .post('/api/v1/gateway/providers')
      .bearerToken(owner.tokens.accessToken)
      .json({ name: 'x', kind: 'carrier-pigeon', baseUrl: 'not a url' })
    assertProblem(invalid, 422, 'validation_failed')
  })

  test('only owners and admins of the active tenant manage the gateway; other tenants see 404', async ({
    client,
  }) => {
    const { owner, provider } = await gatewayTenant(client, upstream)
    const { user: member, token: memberToken } = await joinAs(client, owner, 'member')
    assertProblem(
      await client.get('/api/v1/gateway/keys').bearerToken(memberToken),
      403,
      'forbidden'
    )
    // Switching into the owner's tenant ended the member's first session.
    assertProblem(
      await client.get('/api/v1/gateway/keys').bearerToken(member.tokens.accessToken),
      401,
      'unauthenticated'
    )
    const tenantless = await registerUser(client, { tenantName: undefined })
    assertProblem(
      await client.get('/api/v1/gateway/keys').bearerToken(tenantless.tokens.accessToken),
      403,
      'no_active_tenant'
    )
    const stranger = await registerUser(client)
    assertProblem(
      await client
        .get(`/api/v1/gateway/providers/${provider.id}`)
        .bearerToken(stranger.tokens.accessToken),
      404,
      'provider_not_found'
    )
    assertProblem(await client.get('/api/v1/gateway/keys'), 401, 'unauthenticated')
  })

  test('models: deployments must name the tenant’s providers; a provider in use cannot go', async ({
    client,
    assert,
  }) => {
    const { owner, provider, model } = await gatewayTenant(client, upstream)
    const stranger = await gatewayTenant(client, upstream)
    const foreign = await client
      .post('/api/v1/gateway/models')
      .bearerToken(owner.tokens.accessToken)
      .json({
        alias: 'sneaky',
        deployments: [{ providerId: stranger.provider.id, upstreamModel: 'x' }],
      })
    assertProblem(foreign, 422, 'validation_failed')
    const duplicate = await client
      .post('/api/v1/gateway/models')
      .bearerToken(owner.tokens.accessToken)
      .json({
        alias: 'chat-default',
        deployments: [{ providerId: provider.id, upstreamModel: 'y' }],
      })
    assertProblem(duplicate, 409, 'model_alias_taken')

    const updated = await client
      .patch(`/api/v1/gateway/models/${model.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ strategy: 'weighted', outputPricePerMTok: 1500 })
    updated.assertStatus(200)
    assertMatchesOpenApi(updated, 'PATCH', `/api/v1/gateway/models/${model.id}`)
    assert.equal(updated.body().strategy, 'weighted')
    assert.equal(updated.body().pricing.outputPerMTok, 1500)
    assert.equal(updated.body().deployments[0].providerName, 'primary')

    assertProblem(
      await client
        .delete(`/api/v1/gateway/providers/${provider.id}`)
        .bearerToken(owner.tokens.accessToken),
      409,
      'provider_in_use'
    )
    const removed = await client
      .delete(`/api/v1/gateway/models/${model.id}`)
      .bearerToken(owner.tokens.accessToken)
    removed.assertStatus(204)
  })

  test('keys: the secret is shown once and stored as its SHA-256', async ({ client, assert }) => {
    const { owner, key } = await gatewayTenant(client, upstream)
    assert.match(key.secret, /^atr_[A-Za-z0-9_-]{43}$/)
    assert.equal(key.prefix, key.secret.slice(0, 12))
    const row = await db.from('gateway_keys').where('id', key.id).first()
    assert.equal(row.secret_hash, createHash('sha256').update(key.secret).digest('hex'))
    assert.notInclude(JSON.stringify(row), key.secret)

    const listed = await client.get('/api/v1/gateway/keys').bearerToken(owner.tokens.accessToken)
    assertMatchesOpenApi(listed, 'GET', '/api/v1/gateway/keys')
    assert.notInclude(listed.text(), key.secret)
    const shown = await client
      .get(`/api/v1/gateway/keys/${key.id}`)
      .bearerToken(owner.tokens.accessToken)
    assert.notProperty(shown.body(), 'secret')
  })

  test('rotate: the old secret works through the grace period; with none it stops at once', async ({
    client,
    assert,
  }) => {
    const { owner, key } = await gatewayTenant(client, upstream)
    assert.isTrue(await callWorks(key.secret))
    const rotated = await client
      .post(`/api/v1/gateway/keys/${key.id}/rotate`)
      .bearerToken(owner.tokens.accessToken)
      .json({})
    rotated.assertStatus(200)
    assertMatchesOpenApi(rotated, 'POST', `/api/v1/gateway/keys/${key.id}/rotate`)
    const graceEnds = new Date(rotated.body().previousSecretValidUntil).getTime()
    assert.approximately(graceEnds - Date.now(), 24 * 3600 * 1000, 60_000)
    assert.isTrue(await callWorks(key.secret), 'old secret within the grace period')
    assert.isTrue(await callWorks(rotated.body().secret))

    const again = await client
      .post(`/api/v1/gateway/keys/${key.id}/rotate`)
      .bearerToken(owner.tokens.accessToken)
      .json({ gracePeriodSeconds: 0 })
    assert.isFalse(await callWorks(rotated.body().secret), 'no grace: refused at once')
    assert.isFalse(await callWorks(key.secret))
    assert.isTrue(await callWorks(again.body().secret))
  })

  test('revoke and changes take effect at once, though the key was cached', async ({
    client,
    assert,
  }) => {
    const { owner, key } = await gatewayTenant(client, upstream)
    // Twice: the first call starts the cache's listener, the second is served from the cache.
    assert.isTrue(await callWorks(key.secret))
    assert.isTrue(await callWorks(key.secret))
    const narrowed = await client
      .patch(`/api/v1/gateway/keys/${key.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ allowedModels: ['something-else'] })
    narrowed.assertStatus(200)
    // Dropped at the PATCH's commit, before its answer (config_changes.spec.ts holds the NOTIFY).
    assert.instanceOf(await chatError(key.secret), OpenAI.PermissionDeniedError)

    const revoked = await client
      .post(`/api/v1/gateway/keys/${key.id}/revoke`)
      .bearerToken(owner.tokens.accessToken)
    revoked.assertStatus(200)
    assert.isString(revoked.body().revokedAt)
    assert.isFalse(await callWorks(key.secret))
    assertProblem(
      await client
        .patch(`/api/v1/gateway/keys/${key.id}`)
        .bearerToken(owner.tokens.accessToken)
        .json({ name: 'again' }),
      409,
      'key_revoked'
    )
  })

  test('expiry: a key past its expiresAt is refused; a past date cannot be set', async ({
    client,
    assert,
  }) => {
    const { owner } = await gatewayTenant(client, upstream)
    const past = await client
      .post('/api/v1/gateway/keys')
      .bearerToken(owner.tokens.accessToken)
      .json({ name: 'old', expiresAt: '2020-01-01T00:00:00Z' })
    assertProblem(past, 422, 'validation_failed')
    const soon = await createKey(client, owner, {
      expiresAt: new Date(Date.now() + 60_000).toISOString(),
    })
    assert.isTrue(await callWorks(soon.secret))
    // A minute later, by the injectable clock the key check reads: no waiting.
    clock.travelTo(Date.now() + 61_000)
    try {
      assert.isFalse(await callWorks(soon.secret))
    } finally {
      clock.reset()
    }
  })
})
