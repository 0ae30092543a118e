import { test } from '@japa/runner'
import { findLogLine } from '#tests/helpers/logs'
import { FIXTURE_PREFIX } from '#tests/fixtures/routes'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

test.group('X-Request-Id', () => {
  test('generated when absent, on success and on errors alike', async ({ client, assert }) => {
    const ok = await client.get('/api/v1/system/ping')
    const missing = await client.get('/api/v1/missing')
    const crash = await client.get(`${FIXTURE_PREFIX}/crash`)
    for (const response of [ok, missing, crash]) {
      assert.match(response.header('x-request-id') ?? '', UUID)
    }
    assert.notEqual(ok.header('x-request-id'), missing.header('x-request-id'))
  })

  test('a sane incoming id is kept and echoed in problems', async ({ client, assert }) => {
    const response = await client
      .get('/api/v1/missing')
      .header('x-request-id', 'upstream-trace:42.a_b-c')
    assert.equal(response.header('x-request-id'), 'upstream-trace:42.a_b-c')
    assert.equal(response.body().requestId, 'upstream-trace:42.a_b-c')
  })

  for (const [label, value] of [
    ['too short', 'abc'],
    ['too long', 'x'.repeat(129)],
    ['with spaces', 'hello world 1234'],
    ['with markup', '<script>alert(1)</script>'],
    ['with a quote', `id'; DROP TABLE x; --`],
  ] as const) {
    test(`an unsafe incoming id is replaced: ${label}`, async ({ client, assert }) => {
      const response = await client.get('/api/v1/system/ping').header('x-request-id', value)
      response.assertStatus(200)
      assert.match(response.header('x-request-id') ?? '', UUID)
    })
  }

  test('log lines of a request carry its id', async ({ client, assert }) => {
    await client.get(`${FIXTURE_PREFIX}/crash`).header('x-request-id', 'log-correlation-0001')
    const line = await findLogLine((entry) => entry.request_id === 'log-correlation-0001')
    assert.isNotNull(line, 'no log line carried request_id')
  })

  test('an unsafe incoming id never reaches the logs: its lines carry the replacement', async ({
    client,
    assert,
  }) => {
    // Unique per run: the test log file outlives a run.
    const unsafe = `forged-log-field" injected=${Date.now()}`
    const response = await client.get(`${FIXTURE_PREFIX}/crash`).header('x-request-id', unsafe)
    response.assertStatus(500)
    const replacement = response.header('x-request-id') ?? ''
    assert.match(replacement, UUID)
    const line = await findLogLine((entry) => entry.request_id === replacement)
    assert.isNotNull(line, 'the crash was logged under the replacement id')
    assert.isNull(
      await findLogLine((entry) => entry.request_id === unsafe, 0),
      'the unsafe id is in no log line'
    )
  })
})
