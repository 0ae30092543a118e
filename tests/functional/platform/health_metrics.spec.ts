import { test } from '@japa/runner'
import env from '#start/env'
import db from '@adonisjs/lucid/services/db'
import { assertMatchesOpenApi } from '#tests/helpers/openapi'
import { newId } from '#app/platform/ids'
import { resetBus } from '#tests/helpers/messaging'

test.group('health and metrics', (group) => {
  // Readiness is 'ok' only with no stale event in the outbox: an earlier run's leftover would warn.
  group.each.setup(() => resetBus())

  test('/health/live answers ok', async ({ client }) => {
    const response = await client.get('/health/live')
    response.assertStatus(200)
    response.assertBody({ status: 'ok' })
  })

  test('/health/ready checks the database, and Redis only when REDIS_URL is set', async ({
    client,
    assert,
  }) => {
    const response = await client.get('/health/ready')
    response.assertStatus(200)
    assertMatchesOpenApi(response, 'GET', '/health/ready')
    const names = (response.body().checks as Array<{ name: string; status: string }>).map((check) =>
      check.name.toLowerCase()
    )
    assert.isTrue(names.some((name) => name.includes('database')))
    assert.equal(
      names.some((name) => name.includes('redis')),
      Boolean(env.get('REDIS_URL'))
    )
    assert.isTrue(
      response.body().checks.every((check: { status: string }) => check.status === 'ok')
    )
  })

  test('/metrics exposes request durations by route pattern and status, plus process metrics', async ({
    client,
    assert,
  }) => {
    await client.get('/api/v1/system/ping')
    await client.get('/api/v1/does-not-exist/12345')
    // A matched route whose answer the exception handler writes: its status, not the route's 200.
    await client.get('/api/v1/auth/me').bearerToken('not-a-token')
    const response = await client.get('/metrics')
    response.assertStatus(200)
    assert.include(response.header('content-type') ?? '', 'text/plain')
    const text = response.text()
    assert.match(
      text,
      /http_request_duration_seconds_bucket\{[^}]*route="\/api\/v1\/system\/ping"[^}]*status="200"/
    )
    assert.match(
      text,
      /http_request_duration_seconds_count\{[^}]*route="unmatched"[^}]*status="404"/
    )
    assert.match(
      text,
      /http_request_duration_seconds_count\{[^}]*route="\/api\/v1\/auth\/me"[^}]*status="401"/
    )
    assert.notInclude(text, '/does-not-exist/12345', 'raw URLs must not become labels')

    // Each request is counted once: in the count, and in the last (+Inf) bucket that holds them all.
    const pingSeries = (exposition: string, metric: string) => {
      const line = exposition
        .split('\n')
        .find(
          (candidate) =>
            candidate.startsWith(`${metric}{`) &&
            ['method="GET"', 'route="/api/v1/system/ping"', 'status="200"'].every((label) =>
              candidate.includes(label)
            ) &&
            (!metric.endsWith('_bucket') || candidate.includes('le="+Inf"'))
        )
      return Number(line?.split(' ').at(-1))
    }
    const before = pingSeries(text, 'http_request_duration_seconds_count')
    for (let request = 0; request < 3; request++) await client.get('/api/v1/system/ping')
    const scrape = await client.get('/metrics')
    const after = scrape.text()
    assert.equal(pingSeries(after, 'http_request_duration_seconds_count'), before + 3)
    assert.equal(pingSeries(after, 'http_request_duration_seconds_bucket'), before + 3)
  })

  test('a stalled relay makes readiness degraded (still 200) and shows in the metrics', async ({
    client,
    assert,
    cleanup,
  }) => {
    const id = newId()
    await db.table('messaging_outbox').insert({
      id,
      type: 'test.stalled',
      version: 1,
      tenant_id: null,
      payload: '{}',
      occurred_at: new Date(Date.now() - 180_000),
      available_at: new Date(Date.now() - 180_000),
    })
    cleanup(async () => {
      await db.from('messaging_outbox').where('id', id).delete()
    })

    const ready = await client.get('/health/ready')
    ready.assertStatus(200)
    assertMatchesOpenApi(ready, 'GET', '/health/ready')
    assert.equal(ready.body().status, 'degraded')
    const relay = ready
      .body()
      .checks.find((check: { name: string }) => check.name === 'Outbox relay lag')
    assert.equal(relay.status, 'warning')

    const metrics = await client.get('/metrics')
    assert.match(metrics.text(), /messaging_outbox_backlog\{[^}]*\} [1-9]/)
    assert.match(metrics.text(), /messaging_relay_lag_seconds\{[^}]*\} (1[7-9]\d|[2-9]\d\d)/)
  })
})
