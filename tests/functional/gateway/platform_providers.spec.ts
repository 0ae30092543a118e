import { test } from '@japa/runner'
import env from '#start/env'
import db from '@adonisjs/lucid/services/db'
import { setOutboundAllowlist } from '#app/http/outbound'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { createKey, createProvider, openaiClient, resetGateway } from '#tests/helpers/gateway'
import { startOllamaChatFake, startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { breaker } from '#modules/gateway/services/routing'
import { usageRecorder } from '#modules/gateway/services/usage'

const hello = [{ role: 'user' as const, content: 'Say hello' }]

/** Sets the operator's environment for one test; puts the old values back after. */
function withEnvironment(values: Record<string, string>) {
  const previous = Object.fromEntries(
    Object.keys(values).map((name) => [name, process.env[name] ?? ''])
  )
  for (const [name, value] of Object.entries(values)) env.set(name, value)
  return () => {
    for (const [name, value] of Object.entries(previous)) env.set(name, value)
  }
}

test.group('gateway platform providers (OLLAMA_HOST, OPENAI_BASE_URL)', (group) => {
  let ollama: FakeUpstream
  let openai: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    breaker.reset()
    ollama = await startOllamaChatFake()
    openai = await startOpenAiFake()
    ollama.models = ['llama3.2', 'qwen3']
    openai.models = ['gpt-4o-mini']
    openai.expectedKey = 'sk-operator-key'
    const restoreEnvironment = withEnvironment({
      OLLAMA_HOST: ollama.url,
      OPENAI_BASE_URL: `${openai.url}/v1`,
      OPENAI_API_KEY: 'sk-operator-key',
    })
    // The tenant address policy at its strictest: loopback is not allowed for tenant URLs.
    const previousAllowlist = setOutboundAllowlist([])
    return async () => {
      setOutboundAllowlist(previousAllowlist)
      restoreEnvironment()
      await ollama.close()
      await openai.close()
    }
  })

  test('a new tenant serves ollama/<model> and openai/<model> with nothing set up but a key', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const key = await createKey(client, owner)
    const sdk = openaiClient(key.secret)

    const listed = await sdk.models.list()
    assert.includeMembers(
      listed.data.map((model) => model.id),
      ['ollama/llama3.2', 'ollama/qwen3', 'openai/gpt-4o-mini']
    )

    const local = await sdk.chat.completions.create({ model: 'ollama/llama3.2', messages: hello })
    assert.equal(local.model, 'ollama/llama3.2')
    assert.equal(local.choices[0].message.content, 'Hello from the fake Ollama.')
    assert.equal(ollama.chatCalls()[0].model, 'llama3.2')

    const remote = await sdk.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: hello,
    })
    assert.equal(remote.choices[0].message.content, 'Hello from the fake upstream.')
    const sent = openai.requests.find((entry) => entry.path === '/v1/chat/completions')!
    assert.equal(sent.headers.authorization, 'Bearer sk-operator-key')
    assert.equal(JSON.parse(sent.body).model, 'gpt-4o-mini')

    // Counted like any call, at zero price: the operator pays; the tenant's limits still apply.
    await usageRecorder.flush()
    const usage = await db.from('gateway_usage').where('key_id', key.id).orderBy('created_at')
    assert.deepEqual(
      usage.map((row) => row.model_alias),
      ['ollama/llama3.2', 'openai/gpt-4o-mini']
    )
    assert.isTrue(usage.every((row) => Number(row.cost_micro) === 0 && row.completion_tokens > 0))
  })

  test('the operator’s URL is trusted; the same URL as a tenant provider is still refused', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const refused = await client
      .post('/api/v1/gateway/providers')
      .bearerToken(owner.tokens.accessToken)
      .json({ name: 'sneaky', kind: 'ollama', baseUrl: ollama.url })
    refused.assertStatus(422)
    const key = await createKey(client, owner)
    const answer = await openaiClient(key.secret).chat.completions.create({
      model: 'ollama/qwen3',
      messages: hello,
    })
    assert.equal(answer.choices[0].message.content, 'Hello from the fake Ollama.')
  })

  test('a tenant admin turns them off: 404 and not listed; a tenant’s own alias of the same name wins', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const key = await createKey(client, owner)
    const sdk = openaiClient(key.secret)
    await sdk.chat.completions.create({ model: 'ollama/llama3.2', messages: hello })

    const shown = await client
      .get('/api/v1/gateway/platform-providers')
      .bearerToken(owner.tokens.accessToken)
    shown.assertStatus(200)
    assert.isTrue(shown.body().enabled)
    assert.deepEqual(
      shown
        .body()
        .data.map((entry: { name: string; models: string[] }) => [entry.name, entry.models]),
      [
        ['ollama', ['ollama/llama3.2', 'ollama/qwen3']],
        ['openai', ['openai/gpt-4o-mini']],
      ]
    )

    const off = await client
      .put('/api/v1/gateway/platform-providers')
      .bearerToken(owner.tokens.accessToken)
      .json({ enabled: false })
    off.assertStatus(200)
    assert.isFalse(off.body().enabled)
    const refused = await sdk.chat.completions
      .create({ model: 'ollama/llama3.2', messages: hello })
      .catch((error) => error)
    assert.equal(refused.status, 404)
    const listed = await sdk.models.list()
    assert.notInclude(
      listed.data.map((model) => model.id),
      'ollama/llama3.2'
    )
    assert.lengthOf(ollama.chatCalls(), 1)

    // With them on again, the tenant's own alias named like a platform one is the tenant's.
    await client
      .put('/api/v1/gateway/platform-providers')
      .bearerToken(owner.tokens.accessToken)
      .json({ enabled: true })
      .then((response) => response.assertStatus(200))
    const mine = await startOpenAiFake()
    setOutboundAllowlist([{ protocol: 'http:', hostname: '127.0.0.1', port: null }])
    try {
      const provider = await createProvider(client, owner, {
        name: 'mine',
        kind: 'openai-compatible',
        baseUrl: `${mine.url}/v1`,
      })
      await client
        .post('/api/v1/gateway/models')
        .bearerToken(owner.tokens.accessToken)
        .json({
          alias: 'ollama/llama3.2',
          deployments: [{ providerId: provider.id, upstreamModel: 'fake-model-1' }],
        })
        .then((response) => response.assertStatus(201))
      const answer = await sdk.chat.completions.create({
        model: 'ollama/llama3.2',
        messages: hello,
      })
      assert.equal(answer.choices[0].message.content, 'Hello from the fake upstream.')
      assert.lengthOf(mine.chatCalls(), 1)
      assert.lengthOf(ollama.chatCalls(), 1)
    } finally {
      await mine.close()
    }
  })

  test('PLATFORM_PROVIDER_TENANTS offers them to the tenants it lists only; others cannot turn them on', async ({
    client,
    assert,
    cleanup,
  }) => {
    const chosen = await registerUser(client)
    const other = await registerUser(client)
    cleanup(withEnvironment({ PLATFORM_PROVIDER_TENANTS: chosen.activeTenantId! }))
    const chosenKey = await createKey(client, chosen)
    const otherKey = await createKey(client, other)
    const chosenSdk = openaiClient(chosenKey.secret)
    const otherSdk = openaiClient(otherKey.secret)

    const answered = await chosenSdk.chat.completions.create({
      model: 'ollama/llama3.2',
      messages: hello,
    })
    assert.equal(answered.model, 'ollama/llama3.2')
    const calls = ollama.chatCalls().length

    // Not listed: not routed, not in /v1/models, nothing reaches the operator's server.
    await assert.rejects(
      () => otherSdk.chat.completions.create({ model: 'ollama/llama3.2', messages: hello }),
      /does not exist/
    )
    const listed = await otherSdk.models.list()
    assert.notInclude(
      listed.data.map((model) => model.id),
      'ollama/llama3.2'
    )
    assert.equal(ollama.chatCalls().length, calls)

    // Its admin learns why, not what the operator runs, and cannot switch them on.
    const shown = await client
      .get('/api/v1/gateway/platform-providers')
      .bearerToken(other.tokens.accessToken)
    assert.deepEqual(shown.body(), { offered: false, enabled: true, data: [] })
    const turnOn = await client
      .put('/api/v1/gateway/platform-providers')
      .bearerToken(other.tokens.accessToken)
      .json({ enabled: true })
    turnOn.assertStatus(409)
    assert.equal(turnOn.body().code, 'platform_providers_not_offered')
    const turnOff = await client
      .put('/api/v1/gateway/platform-providers')
      .bearerToken(other.tokens.accessToken)
      .json({ enabled: false })
    turnOff.assertStatus(200)
    assert.include(turnOff.body(), { offered: false, enabled: false })

    const mine = await client
      .get('/api/v1/gateway/platform-providers')
      .bearerToken(chosen.tokens.accessToken)
    assert.include(mine.body(), { offered: true, enabled: true })
  })

  test('only owners and admins see or change the setting; bad input is a 422', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const stranger = await registerUser(client)
    const bad = await client
      .put('/api/v1/gateway/platform-providers')
      .bearerToken(owner.tokens.accessToken)
      .json({ enabled: 'nope' })
    bad.assertStatus(422)
    // Another tenant's owner changes only their own tenant.
    await client
      .put('/api/v1/gateway/platform-providers')
      .bearerToken(stranger.tokens.accessToken)
      .json({ enabled: false })
      .then((response) => response.assertStatus(200))
    const mine = await client
      .get('/api/v1/gateway/platform-providers')
      .bearerToken(owner.tokens.accessToken)
    assert.isTrue(mine.body().enabled)
    const anonymous = await client.get('/api/v1/gateway/platform-providers')
    anonymous.assertStatus(401)
    const member = await joinAs(client, owner, 'member')
    const forbidden = await client
      .put('/api/v1/gateway/platform-providers')
      .bearerToken(member.token)
      .json({ enabled: false })
    forbidden.assertStatus(403)
    const after = await client
      .get('/api/v1/gateway/platform-providers')
      .bearerToken(owner.tokens.accessToken)
    assert.isTrue(after.body().enabled)
  })

  test('a key limited to some models cannot reach platform models it was not given', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const key = await createKey(client, owner, { allowedModels: ['ollama/qwen3'] })
    const sdk = openaiClient(key.secret)
    const listed = await sdk.models.list()
    assert.deepEqual(
      listed.data.map((model) => model.id),
      ['ollama/qwen3']
    )
    const refused = await sdk.chat.completions
      .create({ model: 'ollama/llama3.2', messages: hello })
      .catch((error) => error)
    assert.equal(refused.status, 403)
    assert.lengthOf(ollama.chatCalls(), 0)
  })
})
