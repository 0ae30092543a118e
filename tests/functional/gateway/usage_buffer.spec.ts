import { test } from '@japa/runner'
import { AsyncLocalStorage } from 'node:async_hooks'
import db from '@adonisjs/lucid/services/db'
import { usageRecorder } from '#modules/gateway/services/usage'
import { resetGateway } from '#tests/helpers/gateway'
import { registerUser } from '#tests/helpers/identity'
import { settleGarbage } from '#tests/helpers/garbage'

test.group('gateway usage buffer: what a pending flush keeps', (group) => {
  group.each.setup(() => resetGateway())

  test('the flush timer armed by a request does not keep that request until the flush', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const requestContext = new AsyncLocalStorage<object>()
    const requests: Array<WeakRef<object>> = []
    const requestId = `usage-buffer-${Date.now()}`
    requestContext.run({ body: 'x'.repeat(10_000) }, () => {
      requests.push(new WeakRef(requestContext.getStore()!))
      // The first record into an empty buffer arms the flush timer (FLUSH_EVERY_MS, 1 s).
      usageRecorder.record({
        tenantId: owner.activeTenantId!,
        keyId: null,
        userId: owner.user.id,
        modelAlias: 'usage-buffer',
        deploymentId: null,
        kind: 'chat',
        promptTokens: 3,
        completionTokens: 5,
        costMicro: 0,
        currency: 'USD',
        latencyMs: 12,
        ttftMs: null,
        status: 200,
        requestId,
        createdAt: new Date(),
      })
    })
    await settleGarbage()
    // Still buffered: the timer has not fired...
    const before = await db.from('gateway_usage').where('request_id', requestId).count('* as n')
    assert.equal(Number(before[0].n), 0)
    // ...and the request that armed it is gone.
    assert.isUndefined(requests[0].deref())

    await usageRecorder.flush()
    const rows = await db.from('gateway_usage').where('request_id', requestId)
    assert.lengthOf(rows, 1)
    assert.equal(rows[0].tenant_id, owner.activeTenantId)
    assert.equal(rows[0].completion_tokens, 5)
  })

  test('each record keeps its own time to the millisecond, and counts on its own UTC day', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const times = [
      '2026-03-04T23:59:59.999Z',
      '2026-03-05T00:00:00.000Z',
      '2026-03-05T12:34:56.789Z',
    ]
    for (const [index, time] of times.entries()) {
      usageRecorder.record({
        tenantId: owner.activeTenantId!,
        keyId: null,
        userId: owner.user.id,
        modelAlias: 'usage-days',
        deploymentId: null,
        kind: 'chat',
        promptTokens: 10 ** index,
        completionTokens: 0,
        costMicro: 0,
        currency: 'USD',
        latencyMs: 1,
        ttftMs: null,
        status: 200,
        requestId: `usage-days-${index}`,
        createdAt: new Date(time),
      })
    }
    await usageRecorder.flush()
    const rows = await db
      .from('gateway_usage')
      .where('model_alias', 'usage-days')
      .orderBy('created_at')
      .select('created_at', 'updated_at')
    assert.deepEqual(
      rows.map((row) => (row.created_at as Date).toISOString()),
      times
    )
    assert.deepEqual(rows[0].updated_at, rows[0].created_at)
    const days = await db
      .from('gateway_usage_daily')
      .where('model_alias', 'usage-days')
      .orderBy('day')
      .select(db.raw('day::text AS day'), 'prompt_tokens')
    assert.deepEqual(
      days.map((row) => [row.day, Number(row.prompt_tokens)]),
      [
        ['2026-03-04', 1],
        ['2026-03-05', 110],
      ]
    )
  })
})
