import { test } from '@japa/runner'
import type { ChildProcess } from 'node:child_process'
import env from '#start/env'
import { childEnv, finished, startNode, waitForLine } from '#tests/helpers/processes'
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

interface Server {
  url: string
  child: ChildProcess
  done: ReturnType<typeof finished>
}

/**
 * Fixed windows: a burst must not straddle a minute boundary. Instead of
 * waiting for a minute to begin, the servers' clocks are set to just after
 * one (ATRIUM_TEST_CLOCK_OFFSET_MS): the burst has most of a minute.
 */
function minuteStartOffset() {
  const nextMinute = (Math.floor(Date.now() / 60_000) + 1) * 60_000
  return String(nextMinute + 1000 - Date.now())
}

async function startServer(port: number, overrides: Record<string, string | undefined> = {}) {
  const child = startNode(
    ['tests/fixtures/server.ts'],
    childEnv({
      PORT: String(port),
      HOST: '127.0.0.1',
      ATRIUM_ROLE: 'web',
      LOG_LEVEL: 'warn',
      ATRIUM_TEST_CLOCK_OFFSET_MS: minuteStartOffset(),
      ...overrides,
    })
  )
  const done = finished(child, 120_000)
  await waitForLine(child, /Atrium is up/)
  return { url: `http://127.0.0.1:${port}`, child, done }
}

async function stop(servers: Server[]) {
  for (const server of servers) server.child.kill('SIGINT')
  await Promise.all(servers.map((server) => server.done.catch(() => null)))
}

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
