import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { startServerProcess, stopServerProcesses as stop } from '#tests/helpers/processes'
import { resetIdentity } from '#tests/helpers/identity'
import { gatewayTenant, resetGateway } from '#tests/helpers/gateway'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { estimatePrompt } from '#modules/gateway/services/metering'
import { until } from '#tests/helpers/waiting'

/*
| The answer to a /v1 call goes out without waiting for its quota settle to
| be stored, yet the key's next request still sees the refund: its
| reservation waits for the settle of the same counters. Proved on a server
| process on the PostgreSQL store, whose settles (gateway_adjust) the test
| holds on an advisory lock while reservations go through.
*/

const hello = [{ role: 'user' as const, content: 'Say hello' }]
const HOLD = 4242_0012

/** Settles wait for the test's lock; the real function runs once it is released. */
async function holdSettlesBehindLock() {
  await releaseSettles()
  await db.rawQuery('ALTER FUNCTION gateway_adjust(text[], bigint[]) RENAME TO gateway_adjust_held')
  await db.rawQuery(`
    CREATE FUNCTION gateway_adjust(counter_keys text[], deltas bigint[]) RETURNS void
    LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock_shared(${HOLD});
      PERFORM gateway_adjust_held(counter_keys, deltas);
    END $$`)
}

/** Puts the real function back (also after a run that was killed midway). */
async function releaseSettles() {
  const { rows } = await db.rawQuery(`SELECT 1 FROM pg_proc WHERE proname = 'gateway_adjust_held'`)
  if (rows.length === 0) return
  await db.rawQuery('DROP FUNCTION gateway_adjust(text[], bigint[])')
  await db.rawQuery('ALTER FUNCTION gateway_adjust_held(text[], bigint[]) RENAME TO gateway_adjust')
}

async function metric(base: string, name: string) {
  const response = await fetch(`${base}/metrics`)
  const text = await response.text()
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}{`))
  return Number(line?.split(' ').at(-1) ?? Number.NaN)
}

/** The key's tokens counter on PostgreSQL (this process may be configured for Redis). */
async function tokensCounted(keyId: string) {
  const rows = await db
    .from('gateway_quota_counters')
    .where('key', 'like', `gw:q:key:${keyId}:tokens:%`)
  return rows.reduce((sum, row) => sum + Number(row.used), 0)
}

function chat(base: string, secret: string) {
  return fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'authorization': `Bearer ${secret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'chat-default', messages: hello, max_tokens: 1000 }),
  })
}

test.group('gateway: the answer does not wait for its quota settle', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    upstream = await startOpenAiFake()
    upstream.fallback = { kind: 'ok', usage: { prompt: 5, completion: 7 } }
    await holdSettlesBehindLock()
    return async () => {
      await upstream.close()
      await releaseSettles()
    }
  })
  group.each.timeout(120_000)

  test('answered while its settle is held; the next request waits for the refund and sees it', async ({
    client,
    assert,
    cleanup,
  }) => {
    const limit = 10_000
    const estimate = estimatePrompt(hello) + 1000
    const { key } = await gatewayTenant(client, upstream, { limits: { tokensPerMinute: limit } })
    const server = await startServerProcess(3397, { ATRIUM_ROLE: 'web', REDIS_URL: undefined })
    const lock = await db.transaction()
    cleanup(async () => {
      if (!lock.isCompleted) await lock.rollback()
      server.child.kill('SIGKILL')
    })
    await lock.rawQuery('SELECT pg_advisory_xact_lock(?)', [HOLD])

    // Its settle cannot be stored while the lock is held, and the answer comes anyway.
    const first = await chat(server.url, key.secret)
    assert.equal(first.status, 200)
    assert.equal(first.headers.get('x-ratelimit-remaining-tokens'), String(limit - estimate))
    await first.text()
    assert.equal(await metric(server.url, 'gateway_quota_settles_pending'), 1)
    assert.equal(await tokensCounted(key.id), estimate, 'the refund is not stored yet')

    // The next request of the key waits for that settle rather than reserve without its refund.
    const second = chat(server.url, key.secret)
    assert.isTrue(
      await until(async () => (await metric(server.url, 'gateway_quota_settle_waits_total')) === 1),
      'the reservation waits for the settle on its way'
    )
    assert.lengthOf(upstream.chatCalls(), 1, 'nothing was reserved or sent for it yet')
    await lock.commit()

    const answered = await second
    assert.equal(answered.status, 200)
    assert.equal(
      answered.headers.get('x-ratelimit-remaining-tokens'),
      String(limit - 12 - estimate),
      'reserved after the first request was settled to the 12 tokens it used'
    )
    await answered.text()
    await stop([server])
    assert.equal(await tokensCounted(key.id), 24, 'both settles stored before the exit')
  })
})
