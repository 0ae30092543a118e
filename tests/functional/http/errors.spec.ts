import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertProblem } from '#tests/helpers/openapi'
import { findLogLine } from '#tests/helpers/logs'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { resetModuleTables, withUnitOfWorkLimits } from '#tests/helpers/database'
import { FIXTURE_PREFIX, FIXTURE_TABLE, createFixtureTable } from '#tests/fixtures/routes'

const widgets = `${FIXTURE_PREFIX}/widgets`

async function widgetCount() {
  const [{ count }] = await db.from(FIXTURE_TABLE).count('* as count')
  return Number(count)
}

test.group('errors are RFC 9457 problems', (group) => {
  group.each.setup(() => createFixtureTable())

  test('unknown route → 404 route_not_found', async ({ client }) => {
    const response = await client.get('/api/v1/no-such-thing')
    assertProblem(response, 404, 'route_not_found')
  })

  test('unknown route outside /api → 404 problem too', async ({ client }) => {
    const response = await client.delete('/nowhere')
    assertProblem(response, 404, 'route_not_found')
  })

  test('malformed JSON → 400 malformed_json and nothing stored', async ({ client, assert }) => {
    const response = await client.post(widgets).unsafeJson('{"name": "bolt", ')
    assertProblem(response, 400, 'malformed_json')
    assert.equal(await widgetCount(), 0)
  })

  test('a JSON scalar body → 400 malformed_json', async ({ client }) => {
    const response = await client.post(widgets).unsafeJson('"hello"')
    assertProblem(response, 400, 'malformed_json')
  })

  test('body over the configured limit → 413 payload_too_large', async ({ client, assert }) => {
    // .env.test sets BODY_LIMIT=64kb
    const response = await client.post(widgets).json({ name: 'x'.repeat(70 * 1024), quantity: 1 })
    assertProblem(response, 413, 'payload_too_large')
    assert.equal(await widgetCount(), 0)
  })

  test('invalid fields → 422 with errors[] naming field, rule and message', async ({
    client,
    assert,
  }) => {
    const response = await client
      .post(widgets)
      .json({ name: 'x', quantity: -2.5, email: 'not-an-email' })
    assertProblem(response, 422, 'validation_failed')
    const errors = response.body().errors as Array<{ field: string; rule: string; message: string }>
    const byField = Object.fromEntries(errors.map((error) => [error.field, error]))
    assert.equal(byField.name.rule, 'minLength')
    assert.oneOf(byField.quantity.rule, ['withoutDecimals', 'min'])
    assert.equal(byField.email.rule, 'email')
    assert.isTrue(errors.every((error) => error.message.length > 0))
    assert.equal(await widgetCount(), 0)
  })

  test('missing body → 422 listing every required field', async ({ client, assert }) => {
    const response = await client.post(widgets)
    assertProblem(response, 422, 'validation_failed')
    const fields = (response.body().errors as Array<{ field: string }>).map((error) => error.field)
    assert.includeMembers(fields, ['name', 'quantity'])
  })

  test('unhandled exception → 500 without message or stack, logged with the request id', async ({
    client,
    assert,
  }) => {
    const response = await client
      .get(`${FIXTURE_PREFIX}/crash`)
      .header('x-request-id', 'crash-test-0001')
    assertProblem(response, 500, 'internal_error')
    const text = JSON.stringify(response.body())
    assert.notInclude(text, 'hunter2')
    assert.notInclude(text, '/srv/secret')
    assert.notInclude(text, 'at ')
    assert.notProperty(response.body(), 'stack')

    const line = await findLogLine((entry) => entry.requestId === 'crash-test-0001')
    assert.isNotNull(line, 'the 500 was not logged with its request id')
    assert.equal(line!.level, 50)
    assert.include(JSON.stringify(line!.err), 'hunter2')
  })
})

test.group('a database that refuses for a moment → 503 with Retry-After', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetModuleTables('chat')
  })

  test('a row held past DB_LOCK_TIMEOUT_MS → 503 database_busy, nothing changed; later the same request succeeds', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const token = owner.tokens.accessToken
    const created = await client
      .post('/api/v1/chat/conversations')
      .bearerToken(token)
      .json({ title: 'Before' })
    created.assertStatus(201)
    const path = `/api/v1/chat/conversations/${created.body().id}`
    const rename = () =>
      client
        .patch(path)
        .bearerToken(token)
        .header('x-request-id', 'lock-wait-0001')
        .json({ title: 'After' })

    // Another session (psql, a stuck job) holds the row.
    const holder = await db.transaction()
    try {
      await holder.from('chat_conversations').where('id', created.body().id).forUpdate().first()
      const refused = await withUnitOfWorkLimits({ lockTimeoutMs: 200 }, rename)
      assertProblem(refused, 503, 'database_busy')
      assert.equal(refused.header('retry-after'), '2')
      assert.notInclude(JSON.stringify(refused.body()), 'lock timeout')
    } finally {
      await holder.rollback()
    }
    const [row] = await db.from('chat_conversations').where('id', created.body().id)
    assert.equal(row.title, 'Before')
    const line = await findLogLine((entry) => entry.requestId === 'lock-wait-0001')
    assert.equal(line?.level, 40, 'logged as a warning, not as an unhandled error')
    assert.equal(line?.sqlState, '55P03')

    const renamed = await rename()
    renamed.assertStatus(200)
    assert.equal(renamed.body().title, 'After')
  })
})
