import { test } from '@japa/runner'
import { clock } from '#app/platform/clock'
import { resetIdentity } from '#tests/helpers/identity'
import { gatewayTenant, openaiClient, resetGateway } from '#tests/helpers/gateway'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'

/*
| The OpenAI SDK's own retry on 429: Atrium's refusal says when the window
| turns (retry-after, retry-after-ms), the SDK waits that long and succeeds.
| Fixed one-minute windows: the test moves the clock to 1.5 s before a minute
| turns, so the wait is short and nobody waits for a real minute.
*/
test.group('gateway 429 and the OpenAI SDK retry', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    upstream = await startOpenAiFake()
    return () => upstream.close()
  })

  test('a request refused by the per-minute limit is retried by the SDK when the window turns', async ({
    client,
    assert,
    cleanup,
  }) => {
    const { key } = await gatewayTenant(client, upstream, { limits: { requestsPerMinute: 1 } })
    const messages = [{ role: 'user' as const, content: 'hi' }]
    const nextMinute = (Math.floor(Date.now() / 60_000) + 2) * 60_000
    clock.travelTo(nextMinute - 1500)
    cleanup(() => clock.reset())

    const sdk = openaiClient(key.secret, { maxRetries: 2 })
    await sdk.chat.completions.create({ model: 'chat-default', messages })
    const started = Date.now()
    const retried = await sdk.chat.completions
      .create({ model: 'chat-default', messages })
      .withResponse()
    const waited = Date.now() - started
    assert.equal(retried.data.choices[0].message.content, 'Hello from the fake upstream.')
    assert.isAbove(waited, 100, 'the SDK waited for the window')
    assert.isBelow(waited, 8000)
    assert.equal(retried.response.headers.get('x-ratelimit-remaining-requests'), '0')
    assert.lengthOf(upstream.chatCalls(), 2, 'the refused attempt never reached the upstream')
  }).timeout(30_000)
})
