import { test } from '@japa/runner'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import OpenAI from 'openai'
import { resetIdentity } from '#tests/helpers/identity'
import {
  createModel,
  createProvider,
  gatewayBase,
  gatewayTenant,
  openaiClient,
  resetGateway,
} from '#tests/helpers/gateway'
import {
  embeddingOf,
  startOllamaChatFake,
  startOpenAiFake,
  type FakeUpstream,
} from '#tests/fakes/llm_upstreams'
import { breaker } from '#modules/gateway/services/routing'

async function rawChat(secret: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gatewayBase()}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      'authorization': `Bearer ${secret}`,
      'content-type': 'application/json',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

/** Parses an SSE body into its data payloads. */
/** The data of each event, parsed as the spec says; every event must carry an id. */
function sseData(text: string) {
  const events: EventSourceMessage[] = []
  const parser = createParser({ onEvent: (event) => events.push(event) })
  parser.feed(text)
  if (events.some((event) => !event.id)) throw new Error(`an event without an id in ${text}`)
  return events.map((event) => event.data)
}

/** The SDK error a call rejects with (fails the test when it resolves). */
async function rejection(call: Promise<unknown>) {
  try {
    await call
  } catch (error) {
    return error as InstanceType<typeof OpenAI.APIError>
  }
  throw new Error('expected the call to fail')
}

interface OpenAiErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null }
}

const hello = [{ role: 'user' as const, content: 'Say hello' }]

test.group('gateway /v1 through the openai SDK', (group) => {
  let upstream: FakeUpstream
  let ollama: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    breaker.reset()
    upstream = await startOpenAiFake()
    ollama = await startOllamaChatFake()
    return async () => {
      await upstream.close()
      await ollama.close()
    }
  })

  test('chat completion: the alias answers, upstream model and key are the provider’s', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const response = await openaiClient(key.secret)
      .chat.completions.create({ model: 'chat-default', messages: hello, max_tokens: 50 })
      .withResponse()
    const completion = response.data
    assert.equal(completion.model, 'chat-default')
    assert.equal(completion.choices[0].message.content, 'Hello from the fake upstream.')
    assert.isAbove(completion.usage!.total_tokens, 0)
    assert.match(response.response.headers.get('x-atrium-overhead-ms') ?? '', /^\d+(\.\d+)?$/)
    assert.isString(response.response.headers.get('x-request-id'))

    const [sent] = upstream.chatCalls()
    assert.equal(sent.model, 'fake-model-1')
    assert.equal(sent.max_tokens, 50)
    const auth = upstream.requests.find((entry) => entry.path === '/v1/chat/completions')
    assert.exists(auth)
  })

  test('streaming: chat.completion.chunk events ending in [DONE]; usage only when asked', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const sdk = openaiClient(key.secret)
    const stream = await sdk.chat.completions.create({
      model: 'chat-default',
      messages: hello,
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ''
    let usage: OpenAI.CompletionUsage | null | undefined
    for await (const chunk of stream) {
      assert.equal(chunk.model, 'chat-default')
      text += chunk.choices[0]?.delta?.content ?? ''
      if (chunk.usage) usage = chunk.usage
    }
    assert.equal(text, 'Hello from the fake upstream.')
    assert.isAbove(usage!.completion_tokens, 0)

    const plain = await rawChat(key.secret, {
      model: 'chat-default',
      messages: hello,
      stream: true,
    })
    assert.equal(plain.status, 200)
    assert.include(plain.headers.get('content-type') ?? '', 'text/event-stream')
    const events = sseData(await plain.text())
    assert.equal(events.at(-1), '[DONE]')
    const chunks = events.slice(0, -1).map((data) => JSON.parse(data))
    assert.isTrue(chunks.every((chunk) => chunk.object === 'chat.completion.chunk' && !chunk.usage))
  })

  test('ollama: its JSON and NDJSON stream come back in OpenAI’s shapes', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, { url: ollama.url, kind: 'ollama' })
    const sdk = openaiClient(key.secret)
    const completion = await sdk.chat.completions.create({
      model: 'chat-default',
      messages: hello,
      max_tokens: 20,
    })
    assert.equal(completion.object, 'chat.completion')
    assert.equal(completion.choices[0].message.content, 'Hello from the fake Ollama.')
    assert.equal(completion.usage?.prompt_tokens, 12)
    const [sentToOllama] = ollama.chatCalls() as Array<{ options: { num_predict: number } }>
    assert.equal(sentToOllama.options.num_predict, 20)

    const stream = await sdk.chat.completions.create({
      model: 'chat-default',
      messages: hello,
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ''
    let finish: string | null = null
    let usage: OpenAI.CompletionUsage | null | undefined
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
      if (chunk.usage) usage = chunk.usage
    }
    assert.equal(text, 'Hello from the fake Ollama.')
    assert.equal(finish, 'stop')
    assert.equal(usage?.prompt_tokens, 12)
  })

  test('embeddings on both provider kinds', async ({ client, assert }) => {
    const { key, owner } = await gatewayTenant(client, upstream)
    const sdk = openaiClient(key.secret)
    const result = await sdk.embeddings.create({
      model: 'chat-default',
      input: ['alpha', 'beta gamma'],
    })
    assert.equal(result.model, 'chat-default')
    assert.deepEqual(
      result.data.map((entry) => entry.embedding),
      [embeddingOf('alpha'), embeddingOf('beta gamma')]
    )

    const local = await createProvider(client, owner, {
      name: 'local',
      kind: 'ollama',
      baseUrl: ollama.url,
    })
    await createModel(client, owner, {
      alias: 'embed-local',
      deployments: [{ providerId: local.id, upstreamModel: 'nomic-embed-text' }],
    })
    const fromOllama = await sdk.embeddings.create({ model: 'embed-local', input: 'delta' })
    assert.deepEqual(fromOllama.data[0].embedding, embeddingOf('delta'))
    assert.equal(fromOllama.usage.prompt_tokens, 7)
  })

  test('models: only the aliases the key may use', async ({ client, assert }) => {
    const { owner, provider } = await gatewayTenant(client, upstream)
    await createModel(client, owner, {
      alias: 'chat-large',
      deployments: [{ providerId: provider.id, upstreamModel: 'fake-model-2' }],
    })
    const limited = await client
      .post('/api/v1/gateway/keys')
      .bearerToken(owner.tokens.accessToken)
      .json({ name: 'limited', allowedModels: ['chat-large'] })
    const sdk = openaiClient(limited.body().secret)
    const list = await sdk.models.list()
    assert.deepEqual(
      list.data.map((model) => model.id),
      ['chat-large']
    )
    const retrieved = await sdk.models.retrieve('chat-large')
    assert.equal(retrieved.id, 'chat-large')
    await assert.rejects(() => sdk.models.retrieve('chat-default'), OpenAI.NotFoundError)
    const refused = await rejection(
      sdk.chat.completions.create({ model: 'chat-default', messages: hello })
    )
    assert.instanceOf(refused, OpenAI.PermissionDeniedError)
    assert.equal(refused.code, 'model_not_allowed')
  })

  test('401 invalid_api_key, 404 model_not_found, 403 insufficient_scope, in OpenAI’s error shape', async ({
    client,
    assert,
  }) => {
    const { key, owner } = await gatewayTenant(client, upstream)
    const wrong = await rejection(
      openaiClient('atr_not-a-real-key').chat.completions.create({
        model: 'chat-default',
        messages: hello,
      })
    )
    assert.instanceOf(wrong, OpenAI.AuthenticationError)
    assert.equal(wrong.code, 'invalid_api_key')
    assert.equal(wrong.type, 'authentication_error')

    const missing = await fetch(`${gatewayBase()}/v1/models`)
    assert.equal(missing.status, 401)
    assert.match(missing.headers.get('x-atrium-overhead-ms') ?? '', /^\d+(\.\d+)?$/)
    assert.isString(missing.headers.get('x-request-id'))
    assert.equal(((await missing.json()) as OpenAiErrorBody).error.code, 'invalid_api_key')

    const unknown = await rejection(
      openaiClient(key.secret).chat.completions.create({ model: 'no-such-model', messages: hello })
    )
    assert.instanceOf(unknown, OpenAI.NotFoundError)
    assert.equal(unknown.code, 'model_not_found')

    const embedOnly = await client
      .post('/api/v1/gateway/keys')
      .bearerToken(owner.tokens.accessToken)
      .json({ name: 'embeddings only', scopes: ['embeddings'] })
    const scoped = await rejection(
      openaiClient(embedOnly.body().secret).chat.completions.create({
        model: 'chat-default',
        messages: hello,
      })
    )
    assert.instanceOf(scoped, OpenAI.PermissionDeniedError)
    assert.equal(scoped.code, 'insufficient_scope')
    assert.lengthOf(upstream.chatCalls(), 0, 'nothing reached the upstream')
  })

  test('bad input is a 400 in OpenAI’s shape and never reaches the upstream', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const cases: Array<[unknown, RegExp]> = [
      ['{"model": "chat-default", "messages": [', /not valid JSON/],
      // Unknown parameters are forwarded (see parameters.spec.ts); a near miss of one Atrium reads is a typo.
      [
        { model: 'chat-default', messages: hello, max_token: 5 },
        /Unrecognized request argument supplied: max_token \(did you mean max_tokens\?\)/,
      ],
      [
        { model: 'chat-default', messages: hello, maxTokens: 5 },
        /maxTokens \(did you mean max_tokens\?\)/,
      ],
      [{ model: 'chat-default', messages: hello, max_tokens: 10_000_000 }, /max_tokens/],
      [{ model: 'chat-default', messages: 'hello' }, /messages/],
      [{ model: 'chat-default', messages: [] }, /messages/],
      [{ model: 'chat-default', messages: [{ role: 'wizard', content: 'x' }] }, /role/],
      [{ model: 42, messages: hello }, /model/],
      [{ model: 'chat-default', messages: hello, temperature: 'hot' }, /temperature/],
      [{ model: 'chat-default', messages: hello, stream: 'yes' }, /stream/],
      [{ model: 'chat-default', messages: hello, n: 3 }, /n/],
      [[1, 2, 3], /JSON object/],
    ]
    for (const [body, message] of cases) {
      const response = await rawChat(key.secret, body)
      const answer = (await response.json()) as OpenAiErrorBody
      assert.equal(response.status, 400, JSON.stringify({ body, answer }))
      assert.equal(answer.error.type, 'invalid_request_error')
      assert.match(answer.error.message, message)
      assert.notProperty(answer, 'stack')
    }
    const viaSdk = await rejection(
      openaiClient(key.secret).chat.completions.create({
        model: 'chat-default',
        messages: hello,
        max_tokens: 10_000_000,
      })
    )
    assert.instanceOf(viaSdk, OpenAI.BadRequestError)
    assert.lengthOf(upstream.chatCalls(), 0)
  })

  test('fallback: the primary answers 500 and the secondary answers; after 5 failures the primary cools down', async ({
    client,
    assert,
  }) => {
    const secondary = await startOpenAiFake()
    try {
      const { owner, key, provider } = await gatewayTenant(client, upstream)
      const backup = await createProvider(client, owner, {
        name: 'backup',
        kind: 'openai-compatible',
        baseUrl: `${secondary.url}/v1`,
        timeoutMs: 2000,
      })
      await createModel(client, owner, {
        alias: 'chat-ha',
        deployments: [
          { providerId: provider.id, upstreamModel: 'primary-model' },
          { providerId: backup.id, upstreamModel: 'backup-model' },
        ],
      })
      secondary.fallback = { kind: 'ok', reply: 'from the backup' }
      upstream.fallback = { kind: 'status', status: 500 }
      const sdk = openaiClient(key.secret)
      for (let round = 0; round < 5; round++) {
        const answer = await sdk.chat.completions.create({ model: 'chat-ha', messages: hello })
        assert.equal(answer.choices[0].message.content, 'from the backup')
      }
      // Five failures in the window (the default threshold): the primary is skipped now.
      const primaryCalls = upstream.chatCalls().length
      assert.equal(primaryCalls, 5)
      await sdk.chat.completions.create({ model: 'chat-ha', messages: hello })
      assert.equal(upstream.chatCalls().length, primaryCalls, 'cooled down: not called')
      assert.equal(secondary.chatCalls().at(-1)?.model, 'backup-model')

      const scrape = await fetch(`${gatewayBase()}/metrics`)
      const metrics = await scrape.text()
      assert.match(metrics, /gateway_fallbacks_total\{model="chat-ha"[^}]*\} 5/)
      assert.match(metrics, /gateway_deployment_up\{[^}]*\} 0/)
      // Five attempts at the primary failed, each timed; six answers counted once each, once their
      // usage is recorded (after the answer, so read until it shows).
      assert.match(
        metrics,
        /^gateway_upstream_duration_seconds_count\{[^}]*outcome="error"[^}]*\} 5$/m
      )
      const counted = /^gateway_requests_total\{[^}]*model="chat-ha"[^}]*status="200"[^}]*\} 6$/m
      const timed =
        /^gateway_request_duration_seconds_count\{[^}]*model="chat-ha"[^}]*phase="total"[^}]*\} 6$/m
      let latest = metrics
      for (let read = 0; read < 50 && !(counted.test(latest) && timed.test(latest)); read++) {
        await new Promise((resolve) => setImmediate(resolve))
        const again = await fetch(`${gatewayBase()}/metrics`)
        latest = await again.text()
      }
      assert.match(latest, counted)
      assert.match(latest, timed)
    } finally {
      await secondary.close()
    }
  })

  test('fallback on a timeout: a primary that does not answer in time hands over to the secondary', async ({
    client,
    assert,
  }) => {
    const secondary = await startOpenAiFake()
    try {
      const { owner, key } = await gatewayTenant(client, upstream)
      const slow = await createProvider(client, owner, {
        name: 'slow',
        kind: 'openai-compatible',
        baseUrl: `${upstream.url}/v1`,
        timeoutMs: 200,
      })
      const backup = await createProvider(client, owner, {
        name: 'backup',
        kind: 'openai-compatible',
        baseUrl: `${secondary.url}/v1`,
      })
      await createModel(client, owner, {
        alias: 'chat-timeout',
        deployments: [
          { providerId: slow.id, upstreamModel: 'slow-model' },
          { providerId: backup.id, upstreamModel: 'backup-model' },
        ],
      })
      upstream.fallback = { kind: 'stall', ms: 1500 }
      secondary.fallback = { kind: 'ok', reply: 'in time' }
      const started = Date.now()
      const answer = await openaiClient(key.secret).chat.completions.create({
        model: 'chat-timeout',
        messages: hello,
      })
      assert.equal(answer.choices[0].message.content, 'in time')
      assert.isBelow(Date.now() - started, 1200, 'the stalled primary was abandoned at its timeout')
      assert.lengthOf(upstream.chatCalls(), 1)
    } finally {
      await secondary.close()
    }
  })

  test('every deployment failing is a 502; a timeout is a 504; nothing leaks', async ({
    client,
    assert,
  }) => {
    const { key, owner, provider } = await gatewayTenant(client, upstream)
    upstream.fallback = { kind: 'status', status: 503 }
    const failed = await rejection(
      openaiClient(key.secret).chat.completions.create({ model: 'chat-default', messages: hello })
    )
    assert.instanceOf(failed, OpenAI.APIError)
    assert.equal(failed.status, 502)
    assert.equal(failed.code, 'upstream_error')
    assert.notInclude(JSON.stringify(failed.error), 'sk-upstream-secret')

    await client
      .patch(`/api/v1/gateway/providers/${provider.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ timeoutMs: 200 })
    breaker.reset()
    upstream.fallback = { kind: 'stall', ms: 1500 }
    const slow = await rawChat(key.secret, { model: 'chat-default', messages: hello })
    assert.equal(slow.status, 504)
    assert.equal(((await slow.json()) as OpenAiErrorBody).error.code, 'upstream_timeout')
  })

  test('a stream that breaks midway ends with an error event', async ({ client, assert }) => {
    const { key } = await gatewayTenant(client, upstream)
    upstream.script = [{ kind: 'break_stream', afterChunks: 2, chunkDelayMs: 50 }]
    const response = await rawChat(key.secret, {
      model: 'chat-default',
      messages: hello,
      stream: true,
    })
    assert.equal(response.status, 200)
    const events = sseData(await response.text())
    const last = JSON.parse(events.at(-1)!)
    assert.equal(last.error.code, 'upstream_error')
    assert.notInclude(events, '[DONE]')
    assert.isAtLeast(events.length, 3)
  })

  test('a client that disconnects mid-stream aborts the upstream call', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    upstream.fallback = {
      kind: 'ok',
      reply: 'one two three four five six seven eight',
      chunkDelayMs: 100,
    }
    const controller = new AbortController()
    const response = await rawChat(
      key.secret,
      { model: 'chat-default', messages: hello, stream: true },
      {}
    )
    const reader = response.body!.getReader()
    await reader.read()
    controller.abort()
    await reader.cancel()
    const deadline = Date.now() + 3000
    while (upstream.aborted === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.equal(upstream.aborted, 1, 'the upstream saw its request go away')
  })
})
