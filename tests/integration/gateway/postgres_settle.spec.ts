import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { postgresQuotaStoreForTests as store } from '#modules/gateway/services/quotas'
import { statementsSentDuring } from '#tests/helpers/sql_spy'

const KEY_PREFIX = 'gw:q:test-settle:'

test.group('gateway quotas on PostgreSQL: settles are grouped', (group) => {
  group.each.setup(async () => {
    await db.from('gateway_quota_counters').where('key', 'like', `${KEY_PREFIX}%`).delete()
  })

  test('200 concurrent settles land exactly, in a handful of writes, and each is stored when it resolves', async ({
    assert,
  }) => {
    const windowEndsAt = Date.now() + 60_000
    const keys = [`${KEY_PREFIX}tokens`, `${KEY_PREFIX}spend`]
    const reserved = await store.reserve(
      keys.map((key) => ({
        key,
        dimension: 'tokens' as const,
        scope: 'key' as const,
        limit: 1_000_000,
        amount: 1000,
        windowEndsAt,
      }))
    )
    assert.equal(reserved.refused, -1)

    let storedWhenResolved = true
    const sent = await statementsSentDuring(() =>
      Promise.all(
        Array.from({ length: 200 }, (_, index) =>
          store
            .adjust([
              { key: keys[0], delta: -3, windowEndsAt },
              { key: keys[1], delta: index % 2 ? 2 : 0, windowEndsAt },
            ])
            .then(async () => {
              // Read from another connection: resolved means committed, not merely queued.
              const [tokens] = await store.peek([keys[0]])
              if (tokens > 1000 - 3) storedWhenResolved = false
            })
        )
      )
    )
    assert.deepEqual(await store.peek(keys), [1000 - 600, 1000 + 200])
    assert.isTrue(storedWhenResolved)
    const writes = sent.filter((sql) => sql.includes('gateway_adjust')).length
    assert.isAtLeast(writes, 1)
    assert.isAtMost(writes, 10, `${writes} writes for 200 settles`)
  })
})

test.group('gateway quotas on PostgreSQL: reservations are grouped, and still exact', (group) => {
  group.each.setup(async () => {
    await db.from('gateway_quota_counters').where('key', 'like', `${KEY_PREFIX}%`).delete()
  })

  const counter = (key: string, limit: number, amount: number, windowEndsAt: number) => ({
    key: `${KEY_PREFIX}${key}`,
    dimension: 'requests' as const,
    scope: 'key' as const,
    limit,
    amount,
    windowEndsAt,
  })

  test('150 concurrent reservations against a limit of 40: exactly 40 taken, whole, in a few calls', async ({
    assert,
  }) => {
    const windowEndsAt = Date.now() + 60_000
    let answers: Awaited<ReturnType<typeof store.reserve>>[] = []
    const sent = await statementsSentDuring(async () => {
      answers = await Promise.all(
        Array.from({ length: 150 }, () =>
          store.reserve([
            counter('requests', 40, 1, windowEndsAt),
            counter('tokens', 1_000_000, 100, windowEndsAt),
          ])
        )
      )
    })
    const taken = answers.filter((answer) => answer.refused === -1)
    assert.lengthOf(taken, 40)
    // Each taken one saw its own increment: the request counts 1…40, each once.
    assert.sameMembers(
      taken.map((answer) => answer.used[0]),
      Array.from({ length: 40 }, (_, index) => index + 1)
    )
    // A refusal names the counter that ran out and reserves nothing, tokens included.
    assert.isTrue(
      answers.filter((answer) => answer.refused !== -1).every((answer) => answer.refused === 0)
    )
    assert.deepEqual(await store.peek([`${KEY_PREFIX}requests`, `${KEY_PREFIX}tokens`]), [40, 4000])
    const calls = sent.filter((sql) => sql.includes('gateway_reserve_many')).length
    assert.isAtMost(calls, 20, `${calls} calls for 150 reservations`)
  })

  test('in one batch, a refused reservation leaves the others of other keys untouched', async ({
    assert,
  }) => {
    const windowEndsAt = Date.now() + 60_000
    await store.reserve([counter('full', 1, 1, windowEndsAt)])
    const [fits, refused, alsoFits] = await Promise.all([
      store.reserve([counter('a', 10, 3, windowEndsAt), counter('b', 10, 3, windowEndsAt)]),
      store.reserve([counter('a', 10, 3, windowEndsAt), counter('full', 1, 1, windowEndsAt)]),
      store.reserve([counter('b', 10, 7, windowEndsAt)]),
    ])
    assert.deepEqual(fits, { refused: -1, used: [3, 3] })
    assert.deepEqual(refused, { refused: 1, used: [3, 1] })
    assert.deepEqual(alsoFits, { refused: -1, used: [10] })
    assert.deepEqual(
      await store.peek([`${KEY_PREFIX}a`, `${KEY_PREFIX}b`, `${KEY_PREFIX}full`]),
      [3, 10, 1]
    )
  })
})
