/*
| The OpenAI clients people actually use, unmodified, against /v1: the
| official SDK, the AI SDK (its default OpenAI provider — the Responses API —
| its .chat() model, and the openai-compatible provider) and LangChain (chat
| completions and its Responses mode). Each does text, streaming, a tool
| call, embeddings, and meets an unknown model, a bad key and a spent quota.
*/
import { test } from '@japa/runner'
import OpenAI from 'openai'
import { createOpenAI } from '@ai-sdk/openai'
import { createOpenAICompatible } from '@ai-sdk/openai-compatible'
import {
  embedMany,
  generateText,
  jsonSchema,
  stepCountIs,
  streamText,
  tool,
  type EmbeddingModel,
  type LanguageModel,
  type ModelMessage,
} from 'ai'
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai'
import { resetIdentity } from '#tests/helpers/identity'
import { createKey, gatewayBase, gatewayTenant, resetGateway } from '#tests/helpers/gateway'
import { embeddingOf, startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { breaker } from '#modules/gateway/services/routing'
import { withinOneMinute } from '#tests/helpers/quotas'

const REPLY = 'Hello from the fake upstream.'
const WEATHER_ARGS = '{"city":"Oslo"}'
const weatherSchema = {
  type: 'object' as const,
  properties: { city: { type: 'string' as const } },
  required: ['city'],
  additionalProperties: false,
}

interface ClientUnderTest {
  text(): Promise<string>
  stream(): Promise<string>
  /** The tool the model asked for and its arguments. */
  toolCall(): Promise<{ name: string; args: unknown }>
  embed(texts: string[]): Promise<number[][]>
}

type Factory = (secret: string, model: string) => ClientUnderTest

const baseURL = () => `${gatewayBase()}/v1`

function openaiSdk(secret: string, model: string): ClientUnderTest {
  const sdk = new OpenAI({ apiKey: secret, baseURL: baseURL(), maxRetries: 0 })
  return {
    async text() {
      const answer = await sdk.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Say hello' }],
      })
      return answer.choices[0].message.content ?? ''
    },
    async stream() {
      const stream = await sdk.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Say hello' }],
        stream: true,
        stream_options: { include_usage: true },
      })
      let text = ''
      for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
      return text
    },
    async toolCall() {
      const answer = await sdk.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Weather in Oslo?' }],
        tools: [{ type: 'function', function: { name: 'get_weather', parameters: weatherSchema } }],
      })
      const call = answer.choices[0].message.tool_calls?.[0]
      if (call?.type !== 'function') throw new Error('no function call')
      return { name: call.function.name, args: JSON.parse(call.function.arguments) }
    },
    async embed(texts) {
      const answer = await sdk.embeddings.create({ model, input: texts })
      return answer.data.map((entry) => entry.embedding)
    },
  }
}

function aiSdkClient(
  language: LanguageModel,
  embed: (texts: string[]) => Promise<number[][]>
): ClientUnderTest {
  return {
    async text() {
      const result = await generateText({ model: language, prompt: 'Say hello', maxRetries: 0 })
      return result.text
    },
    async stream() {
      // streamText reports a failure through onError, not by throwing from the stream.
      let streamError: unknown = null
      const result = streamText({
        model: language,
        prompt: 'Say hello',
        maxRetries: 0,
        onError: ({ error }) => {
          streamError = error
        },
      })
      let text = ''
      for await (const part of result.textStream) text += part
      if (streamError) throw streamError
      return text
    },
    async toolCall() {
      const result = await generateText({
        model: language,
        prompt: 'Weather in Oslo?',
        maxRetries: 0,
        tools: {
          get_weather: tool({ description: 'The weather', inputSchema: jsonSchema(weatherSchema) }),
        },
      })
      const call = result.toolCalls[0]
      if (!call) throw new Error(`no tool call (finish: ${result.finishReason})`)
      return { name: call.toolName, args: call.input }
    },
    embed,
  }
}

const aiDefault = (secret: string) => createOpenAI({ baseURL: baseURL(), apiKey: secret })
const aiCompatible = (secret: string) =>
  createOpenAICompatible({ name: 'atrium', baseURL: baseURL(), apiKey: secret, includeUsage: true })

function aiFactory<Provider extends { embeddingModel(id: string): EmbeddingModel }>(
  providerOf: (secret: string) => Provider,
  modelOf: (provider: Provider, id: string) => LanguageModel
): Factory {
  return (secret, id) => {
    const provider = providerOf(secret)
    return aiSdkClient(modelOf(provider, id), async (texts) => {
      const result = await embedMany({
        model: provider.embeddingModel(id),
        values: texts,
        maxRetries: 0,
      })
      return result.embeddings
    })
  }
}

function langChain(useResponsesApi: boolean): Factory {
  return (secret, model) => {
    const settings = { model, apiKey: secret, configuration: { baseURL: baseURL() }, maxRetries: 0 }
    const chat = new ChatOpenAI({ ...settings, useResponsesApi })
    return {
      async text() {
        const message = await chat.invoke('Say hello')
        return message.text
      },
      async stream() {
        let text = ''
        for await (const chunk of await chat.stream('Say hello')) text += chunk.text
        return text
      },
      async toolCall() {
        const message = await chat
          .bindTools([
            {
              type: 'function',
              function: {
                name: 'get_weather',
                description: 'The weather',
                parameters: weatherSchema,
              },
            },
          ])
          .invoke('Weather in Oslo?')
        const call = message.tool_calls?.[0]
        if (!call) throw new Error('no tool call')
        return { name: call.name, args: call.args }
      },
      embed: (texts) => new OpenAIEmbeddings(settings).embedDocuments(texts),
    }
  }
}

const clients: Array<[string, Factory]> = [
  ['openai SDK', openaiSdk],
  ['AI SDK, default OpenAI provider (Responses API)', aiFactory(aiDefault, (p, id) => p(id))],
  ['AI SDK, OpenAI provider .chat()', aiFactory(aiDefault, (p, id) => p.chat(id))],
  ['AI SDK, openai-compatible provider', aiFactory(aiCompatible, (p, id) => p(id))],
  ['LangChain ChatOpenAI', langChain(false)],
  ['LangChain ChatOpenAI, Responses API', langChain(true)],
]

/** The HTTP status a client library's error carries, wherever that library puts it. */
function statusOf(error: unknown): number | null {
  let current = error as Record<string, unknown> | null
  for (let depth = 0; current && depth < 5; depth++) {
    for (const field of ['status', 'statusCode']) {
      if (typeof current[field] === 'number') return current[field] as number
    }
    current = (current.lastError ?? current.cause ?? current.error ?? null) as Record<
      string,
      unknown
    > | null
  }
  return null
}

async function failure(call: Promise<unknown>) {
  try {
    await call
  } catch (error) {
    return error
  }
  throw new Error('expected the call to fail')
}

test.group('gateway /v1 client matrix', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    breaker.reset()
    upstream = await startOpenAiFake()
    return () => upstream.close()
  })

  for (const [name, make] of clients) {
    test(`${name}: text, streaming, a tool call and embeddings`, async ({ client, assert }) => {
      const { key } = await gatewayTenant(client, upstream)
      const subject = make(key.secret, 'chat-default')
      assert.equal(await subject.text(), REPLY)
      assert.equal(await subject.stream(), REPLY)

      upstream.script = [
        { kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: WEATHER_ARGS }] },
      ]
      assert.deepEqual(await subject.toolCall(), { name: 'get_weather', args: { city: 'Oslo' } })
      const toolRequest = upstream.chatCalls().at(-1) as {
        tools: Array<{ function: { name: string } }>
      }
      assert.equal(toolRequest.tools[0].function.name, 'get_weather')

      const vectors = await subject.embed(['alpha', 'be'])
      assert.lengthOf(vectors, 2)
      for (const [index, text] of ['alpha', 'be'].entries()) {
        assert.deepEqual(Array.from(vectors[index]), embeddingOf(text))
      }
    })

    test(`${name}: unknown model 404, bad key 401, spent quota 429`, async ({
      client,
      assert,
      cleanup,
    }) => {
      withinOneMinute(cleanup)
      const { key, owner } = await gatewayTenant(client, upstream)
      assert.equal(statusOf(await failure(make(key.secret, 'no-such-model').text())), 404)
      assert.equal(statusOf(await failure(make('atr_not_a_key', 'chat-default').text())), 401)

      const limited = await createKey(client, owner, { limits: { requestsPerMinute: 1 } })
      const subject = make(limited.secret, 'chat-default')
      assert.equal(await subject.text(), REPLY)
      assert.equal(statusOf(await failure(subject.text())), 429)
      // The refused calls never reached the upstream.
      assert.lengthOf(upstream.chatCalls(), 1)
    })
  }

  test('AI SDK default provider: a tool loop and a second turn refer back to stored items', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const sentToAtrium: Array<{ input: Array<{ type?: string }> }> = []
    const model = createOpenAI({
      baseURL: baseURL(),
      apiKey: key.secret,
      fetch: async (input, init) => {
        sentToAtrium.push(JSON.parse(String(init?.body)))
        return fetch(input, init)
      },
    })('chat-default')
    upstream.script = [
      { kind: 'ok', toolCalls: [{ name: 'get_weather', arguments: WEATHER_ARGS }] },
      { kind: 'ok', reply: 'It is 12 °C.' },
      { kind: 'ok', reply: 'Still 12 °C.' },
    ]
    const first = await generateText({
      model,
      prompt: 'Weather in Oslo?',
      maxRetries: 0,
      stopWhen: stepCountIs(3),
      tools: {
        get_weather: tool({
          description: 'The weather',
          inputSchema: jsonSchema<{ city: string }>(weatherSchema),
          execute: async ({ city }) => `12 °C in ${city}`,
        }),
      },
    })
    assert.equal(first.text, 'It is 12 °C.')
    const messages: ModelMessage[] = [
      { role: 'user', content: 'Weather in Oslo?' },
      ...first.response.messages,
      { role: 'user', content: 'And now?' },
    ]
    const second = await generateText({ model, messages, maxRetries: 0 })
    assert.equal(second.text, 'Still 12 °C.')

    const calls = upstream.chatCalls() as Array<{
      messages: Array<{ role: string; content: unknown; tool_call_id?: string }>
    }>
    const loop = calls[1].messages
    assert.deepEqual(
      loop.map((message) => message.role),
      ['user', 'assistant', 'tool']
    )
    assert.equal(loop[2].content, '12 °C in Oslo')
    const last = calls[2].messages
    assert.deepEqual(
      last.map((message) => message.role),
      ['user', 'assistant', 'tool', 'assistant', 'user']
    )
    assert.equal(last[3].content, 'It is 12 °C.')
    // The SDK sent its earlier answer as a reference to the stored item, not as text.
    const references = sentToAtrium[2].input.filter((item) => item.type === 'item_reference')
    assert.isAbove(references.length, 0)
  })
})
