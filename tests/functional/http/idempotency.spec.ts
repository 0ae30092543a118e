import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertProblem } from '#tests/helpers/openapi'
import { until } from '#tests/helpers/waiting'
import {
  FIXTURE_PREFIX,
  FIXTURE_TABLE,
  createFixtureTable,
  handlerRuns,
  resetHandlerRuns,
} from '#tests/fixtures/routes'

const widgets = `${FIXTURE_PREFIX}/widgets`

async function count(table: string) {
  const [{ total }] = await db.from(table).count('* as total')
  return Number(total)
}

test.group('Idempotency-Key', (group) => {
  group.each.setup(async () => {
    await createFixtureTable()
    await db.from('idempotency_keys').delete()
    resetHandlerRuns()
  })

  test('same key and body replays the first answer without running the handler again', async ({
    client,
    assert,
  }) => {
    const first = await client
      .post(widgets)
      .header('Idempotency-Key', 'key-1')
      .json({ name: 'bolt', quantity: 3 })
    first.assertStatus(201)
    const second = await client
      .post(widgets)
      .header('Idempotency-Key', 'key-1')
      .json({ quantity: 3, name: 'bolt' })
    second.assertStatus(201)
    assert.deepEqual(second.body(), first.body())
    assert.equal(second.header('idempotent-replayed'), 'true')
    assert.isUndefined(first.header('idempotent-replayed'))
    assert.equal(handlerRuns, 1)
    assert.equal(await count(FIXTURE_TABLE), 1)
  })

  test('same key with a different body → 422 idempotency_key_reused, nothing created', async ({
    client,
    assert,
  }) => {
    await client
      .post(widgets)
      .header('Idempotency-Key', 'key-2')
      .json({ name: 'bolt', quantity: 3 })
    const reused = await client
      .post(widgets)
      .header('Idempotency-Key', 'key-2')
      .json({ name: 'nut', quantity: 3 })
    assertProblem(reused, 422, 'idempotency_key_reused')
    assert.equal(await count(FIXTURE_TABLE), 1)
  })

  test('a concurrent duplicate → 409 with Retry-After, then the settled answer replays', async ({
    client,
    assert,
  }) => {
    const body = { name: 'slow', quantity: 1 }
    // Japa requests are lazy: wrapping in an async function sends it now.
    const slow = (async () =>
      client
        .post(widgets)
        .header('Idempotency-Key', 'key-3')
        .header('x-fixture-delay', '400')
        .json(body))()
    // The first request has claimed the key (its row exists) and is still running.
    assert.isTrue(
      await until(async () => {
        const claim = await db.from('idempotency_keys').where('key', 'key-3').first()
        return Boolean(claim)
      })
    )
    const duplicate = await client.post(widgets).header('Idempotency-Key', 'key-3').json(body)
    assertProblem(duplicate, 409, 'idempotency_request_in_progress')
    assert.equal(duplicate.header('retry-after'), '1')

    const original = await slow
    original.assertStatus(201)
    const replay = await client.post(widgets).header('Idempotency-Key', 'key-3').json(body)
    assert.deepEqual(replay.body(), original.body())
    assert.equal(await count(FIXTURE_TABLE), 1)
  })

  test('many concurrent duplicates create exactly one row', async ({ client, assert }) => {
    const body = { name: 'race', quantity: 9 }
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        client
          .post(widgets)
          .header('Idempotency-Key', 'key-race')
          .header('x-fixture-delay', '100')
          .json(body)
      )
    )
    const statuses = responses.map((response) => response.status())
    assert.equal(statuses.filter((status) => status === 201).length, 1)
    assert.isTrue(statuses.every((status) => status === 201 || status === 409))
    assert.equal(await count(FIXTURE_TABLE), 1)
  })

  test('a failed attempt (422) releases the key so a corrected retry succeeds', async ({
    client,
    assert,
  }) => {
    const invalid = await client
      .post(widgets)
      .header('Idempotency-Key', 'key-4')
      .json({ name: 'x', quantity: 1 })
    assertProblem(invalid, 422, 'validation_failed')
    const fixed = await client
      .post(widgets)
      .header('Idempotency-Key', 'key-4')
      .json({ name: 'xx', quantity: 1 })
    fixed.assertStatus(201)
    assert.equal(await count(FIXTURE_TABLE), 1)
  })

  test('keys are scoped per caller: the same key from two callers creates two rows', async ({
    client,
    assert,
  }) => {
    const body = { name: 'shared', quantity: 1 }
    const alice = await client
      .post(widgets)
      .bearerToken('alice')
      .header('Idempotency-Key', 'same')
      .json(body)
    const bob = await client
      .post(widgets)
      .bearerToken('bob')
      .header('Idempotency-Key', 'same')
      .json(body)
    alice.assertStatus(201)
    bob.assertStatus(201)
    assert.notEqual(alice.body().id, bob.body().id)
    assert.equal(await count(FIXTURE_TABLE), 2)
  })

  test('an abandoned attempt (crash while processing) can be retried after its lock expires', async ({
    client,
    assert,
  }) => {
    const body = { name: 'orphan', quantity: 1 }
    await client.post(widgets).header('Idempotency-Key', 'key-5').json(body)
    // Simulate a process that died mid-request: the row stays "processing" with an expired lock.
    await db
      .from('idempotency_keys')
      .where('key', 'key-5')
      .update({
        state: 'processing',
        response_status: null,
        response_body: null,
        locked_until: db.raw(`now() - interval '1 second'`),
      })
    const retry = await client.post(widgets).header('Idempotency-Key', 'key-5').json(body)
    retry.assertStatus(201)
    assert.isUndefined(retry.header('idempotent-replayed'))
    assert.equal(handlerRuns, 2)
  })

  test('a required key that is missing → 400 idempotency_key_required', async ({ client }) => {
    const response = await client.post(`${FIXTURE_PREFIX}/orders`).json({})
    assertProblem(response, 400, 'idempotency_key_required')
  })

  test('a malformed key → 400 idempotency_key_invalid', async ({ client, assert }) => {
    const tooLong = await client
      .post(widgets)
      .header('Idempotency-Key', 'k'.repeat(256))
      .json({ name: 'ab', quantity: 1 })
    assertProblem(tooLong, 400, 'idempotency_key_invalid')
    const withSpace = await client
      .post(widgets)
      .header('Idempotency-Key', 'has space')
      .json({ name: 'ab', quantity: 1 })
    assertProblem(withSpace, 400, 'idempotency_key_invalid')
    assert.equal(await count(FIXTURE_TABLE), 0)
  })
})
