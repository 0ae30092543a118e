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
})
