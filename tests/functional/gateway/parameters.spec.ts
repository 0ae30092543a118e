import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { resetIdentity } from '#tests/helpers/identity'
import { gatewayBase, gatewayTenant, openaiClient, resetGateway } from '#tests/helpers/gateway'
import { startOllamaChatFake, startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { breaker } from '#modules/gateway/services/routing'
import { usageRecorder } from '#modules/gateway/services/usage'
import { withinOneMinute } from '#tests/helpers/quotas'

const hello = [{ role: 'user' as const, content: 'Say hello' }]

async function rawPost(path: string, secret: string, body: Record<string, unknown>) {
  return fetch(`${gatewayBase()}${path}`, {
    method: 'POST',
    headers: { 'authorization': `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

const rawChat = (secret: string, body: Record<string, unknown>) =>
  rawPost('/v1/chat/completions', secret, body)

const weather = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'The weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
}

test.group('gateway /v1 parameters: forwarded, dropped, refused', (group) => {
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

  test("OpenAI's newer parameters and unknown ones reach an OpenAI-compatible upstream as sent", async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const extras = {
      logprobs: true,
      top_logprobs: 2,
      store: false,
      reasoning_effort: 'low',
      service_tier: 'auto',
      prompt_cache_key: 'cache-1',
      safety_identifier: 'user-hash',
      verbosity: 'low',
      modalities: ['text'],
      prediction: { type: 'content', content: 'Hello' },
      top_k: 40,
      frobnicate: { deep: [1, 2] },
    }
    const response = await rawChat(key.secret, {
      model: 'chat-default',
      messages: hello,
      ...extras,
    })
    assert.equal(response.status, 200)
    assert.isNull(response.headers.get('x-atrium-dropped-params'))
    const [sent] = upstream.chatCalls()
    for (const [name, value] of Object.entries(extras)) assert.deepEqual(sent[name], value, name)
    assert.equal(sent.model, 'fake-model-1')
  })

  test('prompts reach the upstream as sent: no whitespace trimmed from any string', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    // Code, poems and few-shot prompts mean their indentation and trailing newlines;
    // a stop sequence of "\n\n" trimmed would be an empty string.
    const messages = [
      { role: 'system', content: '  You answer in Python.\n' },
      { role: 'user', content: 'def add(a, b):\n    ' },
    ]
    const chat = await rawChat(key.secret, {
      model: 'chat-default',
      messages,
      stop: ['\n\n', ' END '],
      user: ' user-1 ',
    })
    assert.equal(chat.status, 200)
    const [sent] = upstream.chatCalls()
    assert.deepEqual(sent.messages, messages)
    assert.deepEqual(sent.stop, ['\n\n', ' END '])
    assert.equal(sent.user, ' user-1 ')

    const legacy = await rawPost('/v1/completions', key.secret, {
      model: 'chat-default',
      prompt: 'Q: 2+2?\nA: ',
    })
    assert.equal(legacy.status, 200)
    const prompt = upstream.chatCalls()[1].messages as Array<{ content: string }>
    assert.equal(prompt.at(-1)?.content, 'Q: 2+2?\nA: ')

    const embedded = await rawPost('/v1/embeddings', key.secret, {
      model: 'chat-default',
      input: ['  indented', 'trailing\n'],
    })
    assert.equal(embedded.status, 200)
    const embedCall = upstream.requests.find((entry) => entry.path === '/v1/embeddings')
    assert.deepEqual(JSON.parse(embedCall!.body).input, ['  indented', 'trailing\n'])
  })

  test('an alias set to drop removes unknown parameters and names them; OpenAI’s own still go', async ({
    client,
    assert,
  }) => {
    const { key, owner, model } = await gatewayTenant(client, upstream)
    const patched = await client
      .patch(`/api/v1/gateway/models/${model.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ unknownParams: 'drop' })
    patched.assertStatus(200)
    assert.equal(patched.body().unknownParams, 'drop')

    const response = await rawChat(key.secret, {
      model: 'chat-default',
      messages: hello,
      frobnicate: true,
      top_k: 3,
      reasoning_effort: 'high',
    })
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('x-atrium-dropped-params'), 'frobnicate, top_k')
    const [sent] = upstream.chatCalls()
    assert.notProperty(sent, 'frobnicate')
    assert.notProperty(sent, 'top_k')
    assert.equal(sent.reasoning_effort, 'high')
  })

  test('an alias set to reject refuses unknown parameters before reserving or calling anything', async ({
    client,
    assert,
    cleanup,
  }) => {
    withinOneMinute(cleanup)
    const { key, owner, model } = await gatewayTenant(client, upstream, {
      limits: { requestsPerMinute: 1 },
    })
    await client
      .patch(`/api/v1/gateway/models/${model.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ unknownParams: 'reject' })
      .then((response) => response.assertStatus(200))
    const refused = await rawChat(key.secret, {
      model: 'chat-default',
      messages: hello,
      frobnicate: 1,
    })
    assert.equal(refused.status, 400)
    const body = (await refused.json()) as { error: { message: string; type: string } }
    assert.equal(body.error.type, 'invalid_request_error')
    assert.match(body.error.message, /frobnicate/)
    assert.lengthOf(upstream.chatCalls(), 0)
    // Nothing was reserved: the one request a minute is still there, and OpenAI's parameters pass.
    const allowed = await rawChat(key.secret, {
      model: 'chat-default',
      messages: hello,
      service_tier: 'auto',
    })
    assert.equal(allowed.status, 200)
    assert.lengthOf(upstream.chatCalls(), 1)
    await usageRecorder.flush()
    const usage = await db.from('gateway_usage').count('* as count').first()
    assert.equal(Number(usage.count), 1)
  })

  test('a wrong admin setting is a 422 and changes nothing', async ({ client, assert }) => {
    const { owner, model } = await gatewayTenant(client, upstream)
    const response = await client
      .patch(`/api/v1/gateway/models/${model.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ unknownParams: 'sometimes' })
    response.assertStatus(422)
    const row = await db.from('gateway_models').where('id', model.id).first()
    assert.equal(row.unknown_params, 'forward')
  })

  test('Ollama: parameters with an equivalent are mapped, the rest dropped and named', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, { url: ollama.url, kind: 'ollama' })
    const response = await rawChat(key.secret, {
      model: 'chat-default',
      messages: [
        { role: 'developer', content: 'Be brief' },
        ...hello,
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '12 °C' },
      ],
      max_tokens: 40,
      presence_penalty: 0.5,
      response_format: { type: 'json_object' },
      reasoning_effort: 'low',
      logprobs: true,
      top_logprobs: 3,
      top_k: 20,
      tools: [weather],
      store: true,
      service_tier: 'auto',
      metadata: { team: 'a' },
      frobnicate: 1,
    })
    assert.equal(response.status, 200, await response.clone().text())
    assert.equal(
      response.headers.get('x-atrium-dropped-params'),
      'store, service_tier, frobnicate, metadata'
    )
    const [sent] = ollama.chatCalls() as Array<Record<string, any>>
    assert.equal(sent.format, 'json')
    assert.equal(sent.think, 'low')
    assert.isTrue(sent.logprobs)
    assert.equal(sent.top_logprobs, 3)
    assert.deepInclude(sent.options, { num_predict: 40, presence_penalty: 0.5, top_k: 20 })
    assert.deepEqual(sent.tools[0].function.name, 'get_weather')
    assert.deepEqual(
      sent.messages.map((message: { role: string }) => message.role),
      ['system', 'user', 'assistant', 'tool']
    )
    assert.deepEqual(sent.messages[2].tool_calls, [
      { function: { name: 'get_weather', arguments: { city: 'Oslo' } } },
    ])
    assert.equal(sent.messages[3].tool_name, 'get_weather')
    for (const dropped of ['store', 'service_tier', 'frobnicate', 'metadata']) {
      assert.notProperty(sent, dropped)
    }
  })

  test('dropped names a client chose are said safely: no newline reaches a header, at most 20 named', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, { url: ollama.url, kind: 'ollama' })
    const extras = Object.fromEntries(
      Array.from({ length: 25 }, (_, index) => [`extra_${index}`, index])
    )
    const response = await rawChat(key.secret, {
      'model': 'chat-default',
      'messages': hello,
      'bad\r\nx-injected: yes': 1,
      ...extras,
    })
    assert.equal(response.status, 200)
    assert.isNull(response.headers.get('x-injected'))
    const header = response.headers.get('x-atrium-dropped-params')!
    assert.match(header, /^extra_0, extra_1, .*extra_19, \(6 more\)$/)
    assert.lengthOf(ollama.chatCalls(), 1)
  })

  test('Ollama tool calls come back in OpenAI’s shape, whole and streamed', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, { url: ollama.url, kind: 'ollama' })
    const sdk = openaiClient(key.secret)
    const call = { name: 'get_weather', arguments: '{"city":"Oslo"}' }
    ollama.script = [
      { kind: 'ok', toolCalls: [call] },
      { kind: 'ok', toolCalls: [call] },
    ]
    const whole = await sdk.chat.completions.create({
      model: 'chat-default',
      messages: hello,
      tools: [weather],
    })
    assert.equal(whole.choices[0].finish_reason, 'tool_calls')
    const [toolCall] = whole.choices[0].message.tool_calls ?? []
    assert.match(toolCall.id, /^call_/)
    assert.deepEqual(toolCall.type === 'function' && toolCall.function, call)

    const stream = await sdk.chat.completions.create({
      model: 'chat-default',
      messages: hello,
      tools: [weather],
      stream: true,
    })
    const fragments: string[] = []
    let finish: string | null = null
    for await (const chunk of stream) {
      for (const part of chunk.choices[0]?.delta?.tool_calls ?? []) {
        if (part.function?.name) assert.equal(part.function.name, 'get_weather')
        fragments.push(part.function?.arguments ?? '')
      }
      finish = chunk.choices[0]?.finish_reason ?? finish
    }
    assert.equal(fragments.join(''), call.arguments)
    assert.equal(finish, 'tool_calls')
  })

  test('tool calls stream intact through an OpenAI-compatible upstream: ids, names, fragments in order', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const calls = [
      { name: 'get_weather', arguments: '{"city":"Oslo","unit":"celsius"}' },
      { name: 'get_time', arguments: '{"zone":"Europe/Oslo"}' },
    ]
    upstream.script = [{ kind: 'ok', toolCalls: calls }]
    const stream = await openaiClient(key.secret).chat.completions.create({
      model: 'chat-default',
      messages: hello,
      tools: [weather],
      stream: true,
    })
    const assembled = new Map<number, { id?: string; name?: string; arguments: string }>()
    for await (const chunk of stream) {
      for (const part of chunk.choices[0]?.delta?.tool_calls ?? []) {
        const entry = assembled.get(part.index) ?? { arguments: '' }
        entry.id ??= part.id
        entry.name ??= part.function?.name
        entry.arguments += part.function?.arguments ?? ''
        assembled.set(part.index, entry)
      }
    }
    assert.deepEqual(
      [...assembled.values()],
      calls.map((call, index) => ({ id: `call_fake_${index}`, ...call }))
    )
  })
})
