import { test } from '@japa/runner'
import { createServer } from 'node:net'
import { assertProblem } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { createProvider, resetGateway } from '#tests/helpers/gateway'
import {
  startOllamaChatFake,
  startOpenAiFake,
  UPSTREAM_ONLY_TEXT,
  type FakeUpstream,
} from '#tests/fakes/llm_upstreams'

/** A loopback port nothing listens on (bound, then released). */
async function closedPort() {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

test.group('gateway: providers an operator can diagnose', (group) => {
  let openai: FakeUpstream
  let ollama: FakeUpstream
  group.setup(async () => {
    openai = await startOpenAiFake()
    ollama = await startOllamaChatFake()
    return async () => {
      await openai.close()
      await ollama.close()
    }
  })
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    openai.expectedKey = null
  })

  test('a working provider: reachable, key accepted, latency, models; /models lists them', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    openai.expectedKey = 'sk-right'
    const provider = await createProvider(client, owner, {
      name: 'openai-like',
      kind: 'openai-compatible',
      baseUrl: `${openai.url}/v1`,
      apiKey: 'sk-right',
    })
    const tested = await client
      .post(`/api/v1/gateway/providers/${provider.id}/test`)
      .bearerToken(owner.tokens.accessToken)
    tested.assertStatus(200)
    assert.include(tested.body(), { reachable: true, authenticated: true, problem: null })
    assert.deepEqual(tested.body().models, ['fake-embed-1', 'fake-model-1'])
    assert.isAtLeast(tested.body().latencyMs, 0)

    const models = await client
      .get(`/api/v1/gateway/providers/${provider.id}/models`)
      .bearerToken(owner.tokens.accessToken)
    assert.deepEqual(models.body(), { data: [{ id: 'fake-embed-1' }, { id: 'fake-model-1' }] })
    const call = openai.requests.findLast((entry) => entry.path === '/v1/models')
    assert.equal(call?.headers.authorization, 'Bearer sk-right', 'the stored key was sent')
  })

  test('Ollama: its /api/tags', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const provider = await createProvider(client, owner, {
      name: 'local',
      kind: 'ollama',
      baseUrl: ollama.url,
    })
    const models = await client
      .get(`/api/v1/gateway/providers/${provider.id}/models`)
      .bearerToken(owner.tokens.accessToken)
    assert.deepEqual(models.body(), { data: [{ id: 'fake-embed-1' }, { id: 'fake-model-1' }] })
  })

  test('a refused key, a base URL without /v1, a closed port: each says what to fix', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const token = owner.tokens.accessToken
    openai.expectedKey = 'sk-right'
    const cases = [
      {
        input: { name: 'wrong-key', baseUrl: `${openai.url}/v1`, apiKey: 'sk-wrong' },
        expected: { reachable: true, authenticated: false },
        says: 'API key',
      },
      {
        input: { name: 'no-v1', baseUrl: openai.url, apiKey: 'sk-right' },
        expected: { reachable: true, authenticated: null },
        says: 'check the base URL',
      },
      {
        input: { name: 'closed', baseUrl: `http://127.0.0.1:${await closedPort()}/v1` },
        expected: { reachable: false, authenticated: null },
        says: 'unreachable (ECONNREFUSED)',
      },
    ]
    for (const { input, expected, says } of cases) {
      const provider = await createProvider(client, owner, { kind: 'openai-compatible', ...input })
      const tested = await client
        .post(`/api/v1/gateway/providers/${provider.id}/test`)
        .bearerToken(token)
      tested.assertStatus(200)
      assert.include(tested.body(), expected, input.name)
      assert.include(tested.body().problem, says)
      assert.deepEqual(tested.body().models, [])

      const models = await client
        .get(`/api/v1/gateway/providers/${provider.id}/models`)
        .bearerToken(token)
      assertProblem(models, 502, 'provider_unavailable')
      assert.include(models.body().detail, says)
      // The upstream's own words never reach Atrium's clients.
      assert.notInclude(models.text(), UPSTREAM_ONLY_TEXT)
      assert.notInclude(tested.text(), UPSTREAM_ONLY_TEXT)
    }
  })

  test('owners and admins only; another tenant’s provider is a 404', async ({ client }) => {
    const owner = await registerUser(client)
    const provider = await createProvider(client, owner, {
      name: 'mine',
      kind: 'openai-compatible',
      baseUrl: `${openai.url}/v1`,
    })
    const member = await joinAs(client, owner, 'member')
    assertProblem(
      await client.post(`/api/v1/gateway/providers/${provider.id}/test`).bearerToken(member.token),
      403,
      'forbidden'
    )
    const stranger = await registerUser(client)
    for (const path of ['test', 'models']) {
      const request =
        path === 'test'
          ? client.post(`/api/v1/gateway/providers/${provider.id}/test`)
          : client.get(`/api/v1/gateway/providers/${provider.id}/models`)
      assertProblem(
        await request.bearerToken(stranger.tokens.accessToken),
        404,
        'provider_not_found'
      )
    }
  })
})
