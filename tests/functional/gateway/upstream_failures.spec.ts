import { test } from '@japa/runner'
import { resetIdentity } from '#tests/helpers/identity'
import { gatewayBase, gatewayTenant, resetGateway } from '#tests/helpers/gateway'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { findLogLine } from '#tests/helpers/logs'
import { until } from '#tests/helpers/waiting'
import { breaker } from '#modules/gateway/services/routing'

const hello = [{ role: 'user', content: 'Say hello' }]

function chat(secret: string, signal?: AbortSignal) {
  return fetch(`${gatewayBase()}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'authorization': `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat-default', messages: hello }),
    signal,
  })
}

/*
 * What a client and an operator each learn when the provider fails: the
 * client who can fix it (an admin's base URL or key, or its own request) and
 * never the provider's words; the operator a warn line with the cause.
 */
test.group('gateway: upstream failures, explained', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    breaker.reset()
    upstream = await startOpenAiFake()
    return () => upstream.close()
  })

  test('404, 401 and 400 from the provider: who should fix what, without its body', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const cases = [
      { status: 404, answer: 502, code: 'upstream_not_found', says: 'base URL' },
      { status: 401, answer: 502, code: 'upstream_auth_failed', says: 'API key' },
      { status: 400, answer: 400, code: 'upstream_rejected', says: 'too long' },
    ]
    for (const { status, answer, code, says } of cases) {
      const started = Date.now()
      upstream.script = [{ kind: 'status', status }]
      const response = await chat(key.secret)
      const body = (await response.json()) as { error: { code: string; message: string } }
      assert.equal(response.status, answer, `upstream ${status}`)
      assert.equal(body.error.code, code)
      assert.include(body.error.message, says)
      assert.notInclude(JSON.stringify(body), `fake failure ${status}`, 'the provider’s words')

      const warned = await findLogLine(
        (line) =>
          line.msg === 'upstream call failed' &&
          line.status === status &&
          Number(line.time) >= started
      )
      assert.isNotNull(warned, `no warn line for ${status}`)
      assert.equal(warned!.level, 40)
      assert.equal(warned!.provider, new URL(upstream.url).host)
    }
  })

  test('a client that leaves is logged as a client abort, not as a provider failure', async ({
    client,
    assert,
  }) => {
    const { key } = await gatewayTenant(client, upstream)
    const started = Date.now()
    upstream.fallback = { kind: 'stall', ms: 3000 }
    const controller = new AbortController()
    const pending = chat(key.secret, controller.signal).catch((error: Error) => error)
    assert.isTrue(
      await until(async () =>
        upstream.requests.some((entry) => entry.path === '/v1/chat/completions')
      )
    )
    controller.abort()
    assert.instanceOf(await pending, Error)

    const aborted = await findLogLine(
      (line) => line.msg === 'client closed the request' && Number(line.time) >= started,
      5000
    )
    assert.isNotNull(aborted)
    assert.equal(aborted!.level, 30)
    // Reported once per request, and the abort is that report: anything else is logged already.
    const misreported = await findLogLine(
      (line) =>
        Number(line.time) >= started &&
        (line.msg === 'unhandled error' || line.msg === 'upstream call failed'),
      0
    )
    assert.isNull(misreported, JSON.stringify(misreported))
  })
})
