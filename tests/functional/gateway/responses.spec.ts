import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import type OpenAI from 'openai'
import type { ApiClient } from '@japa/api-client'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import {
  createKey,
  createProvider,
  gatewayBase,
  gatewayTenant,
  openaiClient,
  resetGateway,
} from '#tests/helpers/gateway'
import {
  responsesCalls,
  startOllamaChatFake,
  startOpenAiFake,
  UPSTREAM_ONLY_TEXT,
  type FakeUpstream,
} from '#tests/fakes/llm_upstreams'
import { breaker } from '#modules/gateway/services/routing'
import { usageRecorder } from '#modules/gateway/services/usage'
import { withinOneMinute } from '#tests/helpers/quotas'

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' } },
    required: ['city'],
    additionalProperties: false,
  },
  strict: true,
}

async function post(path: string, secret: string, body: unknown) {
  return fetch(`${gatewayBase()}${path}`, {
    method: 'POST',
    headers: { 'authorization': `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
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

type SentMessage = { role: string; content: unknown; tool_calls?: unknown; tool_call_id?: string }

test.group('gateway /v1/responses', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    breaker.reset()
    upstream = await startOpenAiFake()
    return () => upstream.close()
  })

  test('text through the openai SDK: instructions become the system message; usage is metered as chat', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const sdk = openaiClient(key.secret)
    const response = await sdk.responses.create({
      model: 'chat-default',
      instructions: 'Be brief',
      input: 'Say hello',
      max_output_tokens: 50,
      temperature: 0.2,
    })
    assert.match(response.id, /^resp_[0-9a-f]{32}$/)
    assert.equal(response.status, 'completed')
    assert.equal(response.model, 'chat-default')
    assert.equal(response.output_text, 'Hello from the fake upstream.')
    assert.isAbove(response.usage!.input_tokens, 0)
    assert.isAbove(response.usage!.output_tokens, 0)

    const [sent] = upstream.chatCalls()
    assert.deepEqual(sent.messages, [
      { role: 'system', content: 'Be brief' },
      { role: 'user', content: 'Say hello' },
    ])
    assert.equal(sent.max_tokens, 50)
    assert.equal(sent.temperature, 0.2)

    await usageRecorder.flush()
    const usage = await db.from('gateway_usage').where('key_id', key.id).first()
    assert.equal(usage.kind, 'chat')
    assert.equal(usage.status, 200)
    assert.equal(usage.completion_tokens, response.usage!.output_tokens)
  })

  test('streaming: typed events in order, deltas only, the whole response at the end', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const stream = await openaiClient(key.secret).responses.create({
      model: 'chat-default',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Say hello' }] }],
      stream: true,
    })
    const types: string[] = []
    const sequence: number[] = []
    let text = ''
    let completed: OpenAI.Responses.Response | null = null
    for await (const event of stream) {
      types.push(event.type)
      sequence.push(event.sequence_number)
      if (event.type === 'response.output_text.delta') text += event.delta
      if (event.type === 'response.completed') completed = event.response
    }
    const distinct = types.filter((type, index) => type !== types[index - 1])
    assert.deepEqual(distinct, [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ])
    assert.isAbove(types.filter((type) => type === 'response.output_text.delta').length, 2)
    assert.deepEqual(
      sequence,
      sequence.map((_, index) => index)
    )
    assert.equal(text, 'Hello from the fake upstream.')
    assert.equal(completed!.status, 'completed')
    assert.isAbove(completed!.usage!.output_tokens, 0)
    const message = completed!.output[0] as OpenAI.Responses.ResponseOutputMessage
    assert.equal((message.content[0] as { text: string }).text, text)
  })

  test('function tools: a call, then its output with previous_response_id; the upstream sees one conversation', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const sdk = openaiClient(key.secret)
    upstream.script = [
      { kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: '{"city":"Oslo"}' }] },
      { kind: 'ok', reply: 'It is 12 °C in Oslo.' },
    ]
    const first = await sdk.responses.create({
      model: 'chat-default',
      input: 'Weather in Oslo?',
      tools: [weatherTool],
      tool_choice: 'auto',
    })
    const call = first.output.find((item) => item.type === 'function_call')
    assert.exists(call)
    assert.equal(call!.type === 'function_call' && call!.name, 'get_weather')
    assert.equal(call!.type === 'function_call' && call!.arguments, '{"city":"Oslo"}')
    const callId = (call as OpenAI.Responses.ResponseFunctionToolCall).call_id

    const second = await sdk.responses.create({
      model: 'chat-default',
      previous_response_id: first.id,
      input: [{ type: 'function_call_output', call_id: callId, output: '12 °C' }],
      tools: [weatherTool],
    })
    assert.equal(second.output_text, 'It is 12 °C in Oslo.')
    assert.equal(second.previous_response_id, first.id)

    const [firstSent, secondSent] = upstream.chatCalls() as Array<{
      messages: SentMessage[]
      tools: Array<{ type: string; function: { name: string; strict: boolean } }>
    }>
    assert.deepEqual(firstSent.tools[0].function.name, 'get_weather')
    assert.isTrue(firstSent.tools[0].function.strict)
    assert.deepEqual(secondSent.messages, [
      { role: 'user', content: 'Weather in Oslo?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: callId,
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: callId, content: '12 °C' },
    ])
  })

  test('streamed function calls: argument fragments in order, then done with the whole', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const args = '{"city":"Oslo","unit":"celsius"}'
    upstream.script = [{ kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: args }] }]
    const stream = await openaiClient(key.secret).responses.create({
      model: 'chat-default',
      input: 'Weather in Oslo?',
      tools: [weatherTool],
      stream: true,
    })
    const fragments: string[] = []
    let done: string | null = null
    let added: OpenAI.Responses.ResponseOutputItem | null = null
    for await (const event of stream) {
      if (event.type === 'response.output_item.added') added = event.item
      if (event.type === 'response.function_call_arguments.delta') fragments.push(event.delta)
      if (event.type === 'response.function_call_arguments.done') done = event.arguments
    }
    assert.equal(added!.type, 'function_call')
    assert.equal((added as OpenAI.Responses.ResponseFunctionToolCall).call_id, 'call_fake_0')
    assert.equal((added as OpenAI.Responses.ResponseFunctionToolCall).name, 'get_weather')
    assert.isAbove(fragments.length, 1)
    assert.equal(fragments.join(''), args)
    assert.equal(done, args)
  })

  test('a chain of three: each turn sees the turns before it, not the first instructions', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const sdk = openaiClient(key.secret)
    upstream.script = [
      { kind: 'ok', reply: 'one' },
      { kind: 'ok', reply: 'two' },
      { kind: 'ok', reply: 'three' },
    ]
    const first = await sdk.responses.create({
      model: 'chat-default',
      instructions: 'First only',
      input: 'a',
    })
    const second = await sdk.responses.create({
      model: 'chat-default',
      input: 'b',
      previous_response_id: first.id,
    })
    await sdk.responses.create({
      model: 'chat-default',
      input: 'c',
      instructions: 'Third',
      previous_response_id: second.id,
    })
    const third = upstream.chatCalls()[2] as { messages: SentMessage[] }
    assert.deepEqual(third.messages, [
      { role: 'system', content: 'Third' },
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'one' },
      { role: 'user', content: 'b' },
      { role: 'assistant', content: 'two' },
      { role: 'user', content: 'c' },
    ])
  })

  test('item_reference: an earlier output item by id, as the AI SDK sends it', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    upstream.script = [
      { kind: 'ok', reply: 'first answer' },
      { kind: 'ok', reply: 'second answer' },
    ]
    const first = await openaiClient(key.secret).responses.create({
      model: 'chat-default',
      input: 'q1',
    })
    const response = await post('/v1/responses', key.secret, {
      model: 'chat-default',
      input: [
        { role: 'user', content: 'q1' },
        { type: 'item_reference', id: first.output[0].id },
        { role: 'user', content: 'q2' },
      ],
    })
    assert.equal(response.status, 200)
    const second = upstream.chatCalls()[1] as { messages: SentMessage[] }
    assert.deepEqual(second.messages, [
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: 'q2' },
    ])
  })

  test('stored responses are the key’s own: another key or tenant gets 404; store false keeps nothing', async ({
    client,
    assert,
  }) => {
    const { key, owner } = await gatewayTenant(client, upstream)
    const other = await createKey(client, owner, { name: 'other key' })
    const { key: stranger } = await gatewayTenant(client, upstream)
    const mine = await openaiClient(key.secret).responses.create({
      model: 'chat-default',
      input: 'secret plans',
    })
    const shown = await openaiClient(key.secret).responses.retrieve(mine.id)
    assert.equal(shown.id, mine.id)
    assert.equal(shown.output_text, mine.output_text)

    for (const secret of [other.secret, stranger.secret]) {
      const read = await rejection(openaiClient(secret).responses.retrieve(mine.id))
      assert.equal(read.status, 404)
      const built = await post('/v1/responses', secret, {
        model: 'chat-default',
        input: 'continue',
        previous_response_id: mine.id,
      })
      assert.equal(built.status, 404)
      const referenced = await post('/v1/responses', secret, {
        model: 'chat-default',
        input: [{ type: 'item_reference', id: mine.output[0].id }],
      })
      assert.equal(referenced.status, 404)
      const deleted = await rejection(openaiClient(secret).responses.delete(mine.id))
      assert.equal(deleted.status, 404)
    }
    // Only the first call of the owner and none of the refused ones reached the upstream.
    assert.lengthOf(upstream.chatCalls(), 1)

    const unstored = await openaiClient(key.secret).responses.create({
      model: 'chat-default',
      input: 'forget me',
      store: false,
    })
    // `store` is on the wire; the SDK's type leaves it out.
    assert.isFalse((unstored as unknown as { store: boolean }).store)
    const forgotten = await rejection(openaiClient(key.secret).responses.retrieve(unstored.id))
    assert.equal(forgotten.status, 404)

    await openaiClient(key.secret).responses.delete(mine.id)
    const gone = await rejection(openaiClient(key.secret).responses.retrieve(mine.id))
    assert.equal(gone.status, 404)
    const rows = await db.from('gateway_responses').count('* as count').first()
    assert.equal(Number(rows.count), 0)
  })

  test('a NUL written by the model is answered as sent and stored without it', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    upstream.script = [{ kind: 'ok', reply: 'before\u0000after' }]
    const sdk = openaiClient(key.secret)
    const response = await sdk.responses.create({ model: 'chat-default', input: 'x' })
    assert.equal(response.output_text, 'before\u0000after')
    const stored = await sdk.responses.retrieve(response.id)
    assert.equal(stored.output_text, 'beforeafter')
  })

  test('what cannot be served here is a clear 400, and nothing reaches the upstream', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ input: 'x', tools: [{ type: 'web_search' }] }, /hosted tools/],
      [{ input: 'x', background: true }, /Background/],
      [{ input: 'x', conversation: 'conv_1' }, /Conversations API/],
      [
        { input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] },
        /input_file/,
      ],
      [{ input: [{ type: 'computer_call' }] }, /computer_call/],
      [{ input: [{ role: 'wizard', content: 'x' }] }, /role/],
      [{ input: 42 }, /input/],
      [{ input: 'x', max_output_tokens: 0 }, /max_output_tokens/],
      [{ input: 'x', max_output_token: 5 }, /did you mean max_output_tokens/],
      [{ input: 'x', previous_response_id: 'resp_nope' }, /not found/],
    ]
    for (const [body, message] of cases) {
      const response = await post('/v1/responses', key.secret, { model: 'chat-default', ...body })
      const answer = (await response.json()) as { error: { message: string; type: string } }
      assert.oneOf(response.status, [400, 404], JSON.stringify({ body, answer }))
      assert.match(answer.error.message, message, JSON.stringify(answer))
    }
    assert.lengthOf(upstream.chatCalls(), 0)
  })

  test('quotas hold as for chat: over the key’s limit is a 429 with retry-after', async ({
    client,
    assert,
    cleanup,
  }) => {
    withinOneMinute(cleanup)
    const { key } = await gatewayTenant(client, upstream, { limits: { requestsPerMinute: 1 } })
    const first = await post('/v1/responses', key.secret, { model: 'chat-default', input: 'a' })
    assert.equal(first.status, 200)
    const second = await post('/v1/responses', key.secret, { model: 'chat-default', input: 'b' })
    assert.equal(second.status, 429)
    assert.isString(second.headers.get('retry-after'))
    assert.lengthOf(upstream.chatCalls(), 1)
  })

  test('through Ollama too: tool calls and text come back as Responses items', async ({
    client,
    assert,
  }) => {
    const ollama = await startOllamaChatFake()
    try {
      const { key } = await gatewayTenant(client, { url: ollama.url, kind: 'ollama' })
      ollama.script = [
        { kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: '{"city":"Oslo"}' }] },
      ]
      const response = await openaiClient(key.secret).responses.create({
        model: 'chat-default',
        input: 'Weather?',
        tools: [weatherTool],
      })
      const call = response.output[0] as OpenAI.Responses.ResponseFunctionToolCall
      assert.equal(call.type, 'function_call')
      assert.deepEqual(JSON.parse(call.arguments), { city: 'Oslo' })
      const sent = ollama.chatCalls()[0] as { tools: Array<{ function: { name: string } }> }
      assert.equal(sent.tools[0].function.name, 'get_weather')
    } finally {
      await ollama.close()
    }
  })
})

test.group('gateway /v1/completions', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    breaker.reset()
    upstream = await startOpenAiFake()
    return () => upstream.close()
  })

  test('a text completion through the openai SDK; max_tokens defaults to 16 as OpenAI’s does', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const sdk = openaiClient(key.secret)
    const completion = await sdk.completions.create({ model: 'chat-default', prompt: 'Say hello' })
    assert.equal(completion.object, 'text_completion')
    assert.equal(completion.model, 'chat-default')
    assert.equal(completion.choices[0].text, 'Hello from the fake upstream.')
    assert.equal(completion.choices[0].finish_reason, 'stop')
    assert.isAbove(completion.usage!.completion_tokens, 0)
    const echoed = await sdk.completions.create({
      model: 'chat-default',
      prompt: ['Say hello'],
      max_tokens: 30,
      echo: true,
    })
    assert.equal(echoed.choices[0].text, 'Say helloHello from the fake upstream.')
    const [first, second] = upstream.chatCalls()
    assert.deepEqual(first.messages, [{ role: 'user', content: 'Say hello' }])
    assert.equal(first.max_tokens, 16)
    assert.equal(second.max_tokens, 30)
  })

  test('streaming: text_completion chunks, usage when asked, then [DONE]', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const stream = await openaiClient(key.secret).completions.create({
      model: 'chat-default',
      prompt: 'Say hello',
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ''
    let usage: OpenAI.CompletionUsage | undefined
    let finish: string | null = null
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'text_completion')
      text += chunk.choices[0]?.text ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
      if (chunk.usage) usage = chunk.usage
    }
    assert.equal(text, 'Hello from the fake upstream.')
    assert.equal(finish, 'stop')
    assert.isAbove(usage!.completion_tokens, 0)
  })

  test('what completions cannot do here is a 400 that reaches nothing', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ prompt: 'x', suffix: 'y' }, /suffix/],
      [{ prompt: 'x', logprobs: 2 }, /logprobs/],
      [{ prompt: ['a', 'b'] }, /prompt/],
      [{ prompt: 'x', best_of: 3 }, /best_of/],
      [{ prompt: 'x', max_token: 3 }, /did you mean max_tokens/],
    ]
    for (const [body, message] of cases) {
      const response = await post('/v1/completions', key.secret, { model: 'chat-default', ...body })
      const answer = (await response.json()) as { error: { message: string } }
      assert.equal(response.status, 400, JSON.stringify({ body, answer }))
      assert.match(answer.error.message, message)
    }
    assert.lengthOf(upstream.chatCalls(), 0)
  })
})

test.group('gateway /v1/responses passed through to a provider’s own Responses API', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    breaker.reset()
    upstream = await startOpenAiFake()
    return () => upstream.close()
  })

  async function nativeTenant(client: ApiClient, keyInput: Record<string, unknown> = {}) {
    const tenant = await gatewayTenant(client, upstream, keyInput)
    const changed = await client
      .patch(`/api/v1/gateway/providers/${tenant.provider.id}`)
      .bearerToken(tenant.owner.tokens.accessToken)
      .json({ responsesApi: 'native' })
    changed.assertStatus(200)
    changed.assertBodyContains({ responsesApi: 'native' })
    return tenant
  }

  test('the request goes as sent — hosted tools included — and the alias comes back as model', async ({
    client,
    assert,
  }) => {
    const { key } = await nativeTenant(client)
    const response = await openaiClient(key.secret).responses.create({
      model: 'chat-default',
      input: 'Search the web',
      tools: [{ type: 'web_search' }],
      reasoning: { effort: 'low' },
      max_output_tokens: 40,
    })
    assert.equal(response.output_text, 'Hello from the fake Responses API.')
    assert.equal(response.model, 'chat-default')
    const [sent] = responsesCalls(upstream)
    assert.equal(sent.model, 'fake-model-1')
    assert.deepEqual(sent.tools, [{ type: 'web_search' }])
    assert.deepEqual(sent.reasoning, { effort: 'low' })
    assert.lengthOf(upstream.chatCalls(), 0)

    await usageRecorder.flush()
    const usage = await db.from('gateway_usage').where('key_id', key.id).first()
    assert.equal(usage.completion_tokens, response.usage!.output_tokens)
    assert.equal(usage.prompt_tokens, response.usage!.input_tokens)
  })

  test('streamed: the provider’s events, the alias as model, usage settled from response.completed', async ({
    client,
    assert,
  }) => {
    const { key } = await nativeTenant(client)
    upstream.script = [{ kind: 'ok', reply: 'one two three', usage: { prompt: 11, completion: 7 } }]
    const stream = await openaiClient(key.secret).responses.create({
      model: 'chat-default',
      input: 'Count',
      stream: true,
    })
    let text = ''
    let completed: OpenAI.Responses.Response | null = null
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta
      if (event.type === 'response.completed') completed = event.response
    }
    assert.equal(text, 'one two three')
    assert.equal(completed!.model, 'chat-default')
    await usageRecorder.flush()
    const usage = await db.from('gateway_usage').where('key_id', key.id).first()
    assert.include(usage, { prompt_tokens: 11, completion_tokens: 7, status: 200 })
  })

  test('a failure in the provider’s stream reaches the client in Atrium’s words', async ({
    client,
    assert,
  }) => {
    const { key } = await nativeTenant(client)
    upstream.script = [{ kind: 'ok', reply: 'partial answer', failAfterText: true }]
    const response = await post('/v1/responses', key.secret, {
      model: 'chat-default',
      input: 'x',
      stream: true,
    })
    const text = await response.text()
    assert.include(text, 'event: response.failed')
    assert.include(text, 'The model provider failed to answer.')
    assert.notInclude(text, UPSTREAM_ONLY_TEXT)
  })

  test('an alias with any translating deployment translates for all; quotas hold when native', async ({
    client,
    assert,
    cleanup,
  }) => {
    withinOneMinute(cleanup)
    const { key, owner, provider } = await nativeTenant(client, {
      limits: { requestsPerMinute: 2 },
    })
    const other = await startOpenAiFake()
    try {
      const translating = await createProvider(client, owner, {
        name: 'translating',
        kind: 'openai-compatible',
        baseUrl: `${other.url}/v1`,
      })
      await client
        .post('/api/v1/gateway/models')
        .bearerToken(owner.tokens.accessToken)
        .json({
          alias: 'mixed',
          deployments: [
            { providerId: provider.id, upstreamModel: 'fake-model-1' },
            { providerId: translating.id, upstreamModel: 'fake-model-1' },
          ],
        })
        .then((response) => response.assertStatus(201))
      const mixed = await post('/v1/responses', key.secret, { model: 'mixed', input: 'hi' })
      assert.equal(mixed.status, 200)
      assert.lengthOf(upstream.chatCalls(), 1)
      assert.lengthOf(responsesCalls(upstream), 0)

      const native = await post('/v1/responses', key.secret, { model: 'chat-default', input: 'hi' })
      assert.equal(native.status, 200)
      const refused = await post('/v1/responses', key.secret, {
        model: 'chat-default',
        input: 'hi',
      })
      assert.equal(refused.status, 429)
      assert.lengthOf(responsesCalls(upstream), 1)
    } finally {
      await other.close()
    }
  })

  test('Ollama cannot be native: a 422 and nothing changed', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const refused = await client
      .post('/api/v1/gateway/providers')
      .bearerToken(owner.tokens.accessToken)
      .json({ name: 'local', kind: 'ollama', baseUrl: upstream.url, responsesApi: 'native' })
    refused.assertStatus(422)
    assert.equal(refused.body().errors[0].field, 'responsesApi')
    const rows = await db.from('gateway_providers').count('* as count').first()
    assert.equal(Number(rows.count), 0)
  })
})
