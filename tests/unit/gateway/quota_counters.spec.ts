import { test } from '@japa/runner'
import { countersFor, MICRO, type QuotaScope } from '#modules/gateway/services/quotas'

const every = { requestsPerMinute: 10, tokensPerMinute: 1000, tokensPerDay: 5000, monthlyBudget: 2 }
const estimate = { tokens: 40, costMicro: 7 }
const ids: Record<QuotaScope, string> = {
  key: '0190a1b2-0000-7000-8000-00000000000a',
  tenant: '0190a1b2-0000-7000-8000-00000000000b',
  user: '0190a1b2-0000-7000-8000-00000000000b:0190a1b2-0000-7000-8000-00000000000c',
}

test.group('gateway quota counters', () => {
  test('listed in their keys’ order whatever order the scopes come in (the lock order)', ({
    assert,
  }) => {
    const at = Date.UTC(2026, 11, 1, 14, 30, 5)
    const orders: QuotaScope[][] = [
      ['tenant', 'key', 'user'],
      ['user', 'tenant', 'key'],
      ['key', 'user', 'tenant'],
      ['tenant', 'user'],
    ]
    const subsets = [every, { tokensPerDay: 9 }, { requestsPerMinute: 1, monthlyBudget: 1 }, {}]
    for (const scopes of orders) {
      for (const limits of subsets) {
        const counters = countersFor(
          scopes.map((scope) => ({ scope, id: ids[scope], limits })),
          estimate,
          at
        )
        const keys = counters.map((counter) => counter.key)
        // What every process sorted by before: all must agree on the order of the rows they lock.
        assert.deepEqual(
          keys,
          [...keys].sort((a, b) => a.localeCompare(b))
        )
        assert.deepEqual(keys, [...keys].sort())
        assert.lengthOf(keys, scopes.length * Object.keys(limits).length)
      }
    }
  })

  test('each dimension counts its amount against its limit in its window', ({ assert }) => {
    const at = Date.UTC(2026, 11, 31, 23, 59, 59, 999)
    const [requests, spend, tokens, perDay] = countersFor(
      [{ scope: 'key', id: ids.key, limits: every }],
      estimate,
      at
    )
    const minute = Math.floor(at / 60_000)
    assert.deepEqual(requests, {
      key: `gw:q:key:${ids.key}:requests:m${minute}`,
      dimension: 'requests',
      scope: 'key',
      limit: 10,
      amount: 1,
      windowEndsAt: Date.UTC(2027, 0, 1),
    })
    assert.deepInclude(spend, {
      key: `gw:q:key:${ids.key}:spend:M2026-12`,
      limit: 2 * MICRO,
      amount: 7,
      windowEndsAt: Date.UTC(2027, 0, 1),
    })
    assert.deepInclude(tokens, { key: `gw:q:key:${ids.key}:tokens:m${minute}`, amount: 40 })
    assert.deepInclude(perDay, {
      key: `gw:q:key:${ids.key}:tokensPerDay:d2026-12-31`,
      limit: 5000,
      windowEndsAt: Date.UTC(2027, 0, 1),
    })
  })

  test('windows turn with the clock, forwards and back (the minute’s windows are kept)', ({
    assert,
  }) => {
    const buckets = (at: number) =>
      countersFor([{ scope: 'tenant', id: ids.tenant, limits: every }], estimate, at).map(
        (counter) =>
          `${counter.key.split(':').at(-1)}@${new Date(counter.windowEndsAt).toISOString()}`
      )
    const lastMs = Date.UTC(2026, 11, 31, 23, 59, 59, 999)
    const before = buckets(lastMs)
    const after = buckets(lastMs + 1)
    assert.deepEqual(after, [
      `m${(lastMs + 1) / 60_000}@2027-01-01T00:01:00.000Z`,
      'M2027-01@2027-02-01T00:00:00.000Z',
      `m${(lastMs + 1) / 60_000}@2027-01-01T00:01:00.000Z`,
      'd2027-01-01@2027-01-02T00:00:00.000Z',
    ])
    // A clock moved back (tests, a corrected host clock) gets its own minute again.
    assert.deepEqual(buckets(lastMs - 30_000), before)
    assert.deepEqual(before[1], 'M2026-12@2027-01-01T00:00:00.000Z')
    assert.deepEqual(before[3], 'd2026-12-31@2027-01-01T00:00:00.000Z')
  })
})
