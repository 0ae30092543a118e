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
