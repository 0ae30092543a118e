import { test } from '@japa/runner'
import type { ApiClient } from '@japa/api-client'
import db from '@adonisjs/lucid/services/db'
import OpenAI from 'openai'
import { changeFeed } from '#app/platform/change_feed'
import { CONFIG_CHANNEL } from '#modules/gateway/services/change_feed'
import { resetIdentity } from '#tests/helpers/identity'
import {
  chatError,
  createModel,
  gatewayTenant,
  openaiClient,
  resetGateway,
} from '#tests/helpers/gateway'
import { statementsSentDuring } from '#tests/helpers/sql_spy'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'

/*
| The gateway keeps keys, routing and each tenant's model list per process
| (FeedCache). A change NOTIFYs every process; the process that makes it
| drops its own entries at the commit, before the admin's answer — so in a
| one-process deployment a revoke holds from the moment it answers.
*/

async function listedAliases(secret: string) {
  const list = await openaiClient(secret).models.list()
  return list.data.map((model) => model.id)
}

function deleteModel(client: ApiClient, token: string, id: string) {
  return client.delete(`/api/v1/gateway/models/${id}`).bearerToken(token)
}

/** A clean gateway, a fake upstream (closed after the test) and the change feed heard. */
async function freshGateway() {
  await resetIdentity()
  await resetGateway()
  const upstream = await startOpenAiFake()
  await changeFeed.ready()
  return upstream
}

test.group('gateway caches: this process’s changes, before their NOTIFY comes back', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    upstream = await freshGateway()
    // Every NOTIFY waits until the test ends: only a drop at the writer's commit can help.
    const release = changeFeed.holdDelivery()
    return async () => {
      release()
      await upstream.close()
    }
  })

  test('a narrowed, then revoked key is refused on the very next call', async ({
    client,
    assert,
  }) => {
    const { owner, key } = await gatewayTenant(client, upstream)
    // Twice: the first call fills the caches, the second is served from them.
    assert.isNull(await chatError(key.secret))
    assert.isNull(await chatError(key.secret))

    const narrowed = await client
      .patch(`/api/v1/gateway/keys/${key.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ allowedModels: ['something-else'] })
    narrowed.assertStatus(200)
    assert.instanceOf(await chatError(key.secret), OpenAI.PermissionDeniedError)

    const revoked = await client
      .post(`/api/v1/gateway/keys/${key.id}/revoke`)
      .bearerToken(owner.tokens.accessToken)
    revoked.assertStatus(200)
    assert.instanceOf(await chatError(key.secret), OpenAI.AuthenticationError)
  })

  test('a deleted alias stops routing and leaves /v1/models at once; a new one appears at once', async ({
    client,
    assert,
  }) => {
    const { owner, provider, model, key } = await gatewayTenant(client, upstream)
    const token = owner.tokens.accessToken
    assert.deepEqual(await listedAliases(key.secret), ['chat-default'])
    assert.deepEqual(await listedAliases(key.secret), ['chat-default'])
    assert.isNull(await chatError(key.secret))

    const added = await createModel(client, owner, {
      alias: 'chat-second',
      deployments: [{ providerId: provider.id, upstreamModel: 'fake-model-2' }],
    })
    assert.deepEqual(await listedAliases(key.secret), ['chat-default', 'chat-second'])
    assert.isNull(await chatError(key.secret, 'chat-second'))

    const deleted = await deleteModel(client, token, model.id)
    deleted.assertStatus(204)
    assert.deepEqual(await listedAliases(key.secret), ['chat-second'])
    const gone = await chatError(key.secret)
    assert.instanceOf(gone, OpenAI.NotFoundError)
    assert.equal((gone as InstanceType<typeof OpenAI.NotFoundError>).code, 'model_not_found')

    const deletedToo = await deleteModel(client, token, added.id)
    deletedToo.assertStatus(204)
    assert.deepEqual(await listedAliases(key.secret), [])
  })
})

test.group('gateway caches: /v1/models', (group) => {
  let upstream: FakeUpstream
  group.each.setup(async () => {
    upstream = await freshGateway()
    return () => upstream.close()
  })

  test('the list is read once per tenant, then served from memory', async ({ client, assert }) => {
    const { key } = await gatewayTenant(client, upstream)
    // The key's own lookup is cached by its first call; the list by the first listing.
    assert.deepEqual(await listedAliases(key.secret), ['chat-default'])
    const sent = await statementsSentDuring(() => listedAliases(key.secret))
    assert.deepEqual(sent, [])
  })

  test('a change made by another process reaches the list when its NOTIFY does', async ({
    client,
    assert,
  }) => {
    const { owner, key } = await gatewayTenant(client, upstream)
    const tenantId = owner.activeTenantId!
    assert.deepEqual(await listedAliases(key.secret), ['chat-default'])

    // What another process's admin call commits: the row and the NOTIFY, nothing local.
    const heard = new Promise<void>((resolve) => {
      const stop = changeFeed.on(CONFIG_CHANNEL, (changed) => {
        if (changed !== tenantId) return
        stop()
        resolve()
      })
    })
    await db.transaction(async (trx) => {
      await trx.rawQuery(`UPDATE gateway_models SET alias = 'renamed' WHERE tenant_id = ?`, [
        tenantId,
      ])
      await trx.rawQuery('SELECT pg_notify(?, ?)', [CONFIG_CHANNEL, tenantId])
    })
    await heard
    assert.deepEqual(await listedAliases(key.secret), ['renamed'])
  })

  test('each tenant sees only its own list, whoever listed first', async ({ client, assert }) => {
    const first = await gatewayTenant(client, upstream)
    const second = await gatewayTenant(client, upstream)
    await createModel(client, second.owner, {
      alias: 'second-only',
      deployments: [{ providerId: second.provider.id, upstreamModel: 'fake-model-2' }],
    })
    assert.deepEqual(await listedAliases(first.key.secret), ['chat-default'])
    assert.deepEqual(await listedAliases(second.key.secret), ['chat-default', 'second-only'])
    assert.deepEqual(await listedAliases(first.key.secret), ['chat-default'])
  })
})
