import { test } from '@japa/runner'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import {
  createKey,
  createModel,
  createProvider,
  openaiClient,
  resetGateway,
} from '#tests/helpers/gateway'
import { startOllamaChatFake, startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { breaker } from '#modules/gateway/services/routing'
import type { ApiClient } from '@japa/api-client'

const TIMEOUT_MS = 1000
const LONG_REPLY = 'one two three four five six seven'

async function tenantWith(
  client: ApiClient,
  fake: FakeUpstream,
  kind: 'ollama' | 'openai-compatible'
) {
  const owner = await registerUser(client)
  const provider = await createProvider(client, owner, {
    name: 'slow',
    kind,
    baseUrl: kind === 'ollama' ? fake.url : `${fake.url}/v1`,
    timeoutMs: TIMEOUT_MS,
  })
  await createModel(client, owner, {
    alias: 'chat-default',
    deployments: [{ providerId: provider.id, upstreamModel: 'fake-model-1' }],
  })
  return createKey(client, owner)
}

async function streamed(secret: string) {
  const stream = await openaiClient(secret).chat.completions.create({
    model: 'chat-default',
    messages: [{ role: 'user', content: 'Talk slowly' }],
    stream: true,
  })
  let text = ''
  try {
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
  } catch (error) {
    return { text, error: error as Error }
  }
  return { text, error: null }
}

for (const kind of ['ollama', 'openai-compatible'] as const) {
  test.group(`gateway streams from ${kind}: bounded by silence, not by length`, (group) => {
    let fake: FakeUpstream
    group.each.setup(async () => {
      await resetIdentity()
      await resetGateway()
      breaker.reset()
      fake = kind === 'ollama' ? await startOllamaChatFake() : await startOpenAiFake()
      return () => fake.close()
    })

    test('a stream longer than the provider timeout, never silent that long, arrives whole', async ({
      client,
      assert,
    }) => {
      const key = await tenantWith(client, fake, kind)
      // Seven chunks 250 ms apart: about 1.75 s in all, against a 1 s timeout.
      fake.script = [{ kind: 'ok', reply: LONG_REPLY, chunkDelayMs: 250 }]
      const started = performance.now()
      const { text, error } = await streamed(key.secret)
      assert.isNull(error)
      assert.equal(text, LONG_REPLY)
      assert.isAbove(performance.now() - started, TIMEOUT_MS)
    })

    test('a silence longer than the timeout ends the stream with an error after what arrived', async ({
      client,
      assert,
    }) => {
      const key = await tenantWith(client, fake, kind)
      fake.script = [{ kind: 'ok', reply: LONG_REPLY, chunkDelayMs: TIMEOUT_MS * 2 }]
      const { text, error } = await streamed(key.secret)
      assert.exists(error)
      assert.equal(text, 'one ')
      // Committed to its deployment after the first chunk: no second request, no fallback.
      assert.lengthOf(fake.chatCalls(), 1)
    })
  })
}
