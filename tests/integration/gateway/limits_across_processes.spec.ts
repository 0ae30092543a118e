import { test } from '@japa/runner'
import env from '#start/env'
import { startServerProcess, stopServerProcesses as stop } from '#tests/helpers/processes'
import { resetIdentity } from '#tests/helpers/identity'
import { createKey, gatewayTenant, resetGateway } from '#tests/helpers/gateway'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { estimatePrompt } from '#modules/gateway/services/metering'
import { until } from '#tests/helpers/waiting'

/*
| Quotas must hold exactly with several Atrium processes: the requests are
| split across real server processes sharing Redis (or, without Redis, one
| process on the PostgreSQL store), all fired at once.
*/

const hello = [{ role: 'user' as const, content: 'Say hello' }]

/** A web-only server process (its quota counters are what is under test, not its worker). */
const startServer = (port: number, overrides: Record<string, string | undefined> = {}) =>
  startServerProcess(port, { ATRIUM_ROLE: 'web', ...overrides })

function chat(base: string, secret: string, body: Record<string, unknown> = {}) {
  return fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'authorization': `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat-default', messages: hello, ...body }),
  }).then(async (response) => {
    await response.text()
    return response.status
  })
}

function tally(statuses: number[]) {
  const counts: Record<number, number> = {}
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1
  return counts
}

test.group('gateway limits across processes', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    upstream = await startOpenAiFake()
    // Slow enough that every reservation of a burst is made before the first is settled.
    upstream.fallback = { kind: 'ok', delayMs: 300 }
    return () => upstream.close()
  })
  group.each.timeout(180_000)

  test('Redis store: 20 requests per minute, 100 at once over two processes → exactly 20', async ({
    client,
    assert,
    cleanup,
  }) => {
    const { key } = await gatewayTenant(client, upstream, { limits: { requestsPerMinute: 20 } })
    const servers = await Promise.all([startServer(3394), startServer(3395)])
    cleanup(() => servers.forEach((server) => server.child.kill('SIGKILL')))
    const statuses = await Promise.all(
      Array.from({ length: 100 }, (_, index) => chat(servers[index % 2].url, key.secret))
    )
    await stop(servers)
    assert.deepEqual(tally(statuses), { 200: 20, 429: 80 })
    assert.lengthOf(upstream.chatCalls(), 20)
  }).skip(!env.get('REDIS_URL'), 'REDIS_URL is not set')

  test('Redis store: tokens per minute, 100 at once over two processes → exactly as many as fit', async ({
    client,
    assert,
    cleanup,
  }) => {
    const perRequest = estimatePrompt(hello) + 50
    // Each call uses exactly what was reserved, so settling frees nothing and the count
    // does not depend on how the burst interleaves with the settles.
    upstream.fallback = { kind: 'ok', usage: { prompt: estimatePrompt(hello), completion: 50 } }
    const { key } = await gatewayTenant(client, upstream, {
      limits: { tokensPerMinute: perRequest * 7 },
    })
    const servers = await Promise.all([startServer(3394), startServer(3395)])
    cleanup(() => servers.forEach((server) => server.child.kill('SIGKILL')))
    const statuses = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        chat(servers[index % 2].url, key.secret, { max_tokens: 50 })
      )
    )
    await stop(servers)
    assert.deepEqual(tally(statuses), { 200: 7, 429: 93 })
  }).skip(!env.get('REDIS_URL'), 'REDIS_URL is not set')

  test('PostgreSQL store (no Redis): 20 requests per minute, 100 at once → exactly 20', async ({
    client,
    assert,
    cleanup,
  }) => {
    const { key } = await gatewayTenant(client, upstream, { limits: { requestsPerMinute: 20 } })
    const server = await startServer(3396, { REDIS_URL: undefined })
    cleanup(() => {
      server.child.kill('SIGKILL')
    })
    const statuses = await Promise.all(
      Array.from({ length: 100 }, () => chat(server.url, key.secret))
    )
    await stop([server])
    assert.deepEqual(tally(statuses), { 200: 20, 429: 80 })
  })

  test('a revoked key is refused at once by every process, though each had it cached', async ({
    client,
    assert,
    cleanup,
  }) => {
    upstream.fallback = { kind: 'ok' }
    const { owner } = await gatewayTenant(client, upstream)
    const key = await createKey(client, owner, { name: 'shared' })
    const servers = await Promise.all([startServer(3394), startServer(3395)])
    cleanup(() => servers.forEach((server) => server.child.kill('SIGKILL')))
    for (const server of servers) {
      // Twice each: the first starts the process's key listener, the second is served from its cache.
      assert.equal(await chat(server.url, key.secret), 200)
      assert.equal(await chat(server.url, key.secret), 200)
    }
    const revoked = await fetch(`${servers[0].url}/api/v1/gateway/keys/${key.id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.tokens.accessToken}` },
    })
    assert.equal(revoked.status, 200)
    // The other process hears the revoke by NOTIFY: poll the effect, not the clock.
    assert.isTrue(await until(async () => (await chat(servers[1].url, key.secret)) === 401, 5000))
    assert.equal(await chat(servers[1].url, key.secret), 401)
    assert.equal(await chat(servers[0].url, key.secret), 401)
    await stop(servers)
  })
})
