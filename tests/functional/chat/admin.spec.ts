import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertProblem } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { resetModuleTables } from '#tests/helpers/database'
import { resetGateway } from '#tests/helpers/gateway'
import { chatTenant, readGeneration } from '#tests/helpers/chat'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'

type Client = Parameters<typeof registerUser>[0]

let counter = 0
async function ask(client: Client, token: string, body: Record<string, unknown> = {}) {
  const conversation = await client.post('/api/v1/chat/conversations').bearerToken(token).json({})
  const response = await client
    .post(`/api/v1/chat/conversations/${conversation.body().id}/messages`)
    .bearerToken(token)
    .json({ content: 'Hello there', clientRequestId: `adm-${++counter}`, ...body })
  if (response.status() === 202) await readGeneration(token, response.body().generation.id)
  return { response, conversationId: conversation.body().id as string }
}

test.group('chat: usage, settings and audited admin reads', (group) => {
  let fake: FakeUpstream
  group.setup(async () => {
    fake = await startOpenAiFake()
    return () => fake.close()
  })
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    await resetModuleTables('chat')
    fake.script = []
    fake.fallback = { kind: 'ok', usage: { prompt: 10, completion: 5 } }
  })

  test('each user sees their own usage; admins see the tenant’s by user, model or assistant', async ({
    client,
    assert,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const member = await joinAs(client, owner, 'member')
    const assistant = await client
      .post('/api/v1/chat/assistants')
      .bearerToken(member.token)
      .json({ name: 'Helper' })
    await ask(client, member.token, { assistantId: assistant.body().id })
    await ask(client, member.token)
    await ask(client, owner.tokens.accessToken)

    const mine = await client.get('/api/v1/chat/me/usage').bearerToken(member.token)
    mine.assertStatus(200)
    const today = new Date().toISOString().slice(0, 10)
    assert.deepEqual(mine.body().byDay, [
      { key: today, replies: 2, promptTokens: 20, completionTokens: 10, users: 1 },
    ])
    assert.deepEqual(mine.body().byModel, [
      { key: 'chat-default', replies: 2, promptTokens: 20, completionTokens: 10, users: 1 },
    ])
    assert.sameDeepMembers(mine.body().byAssistant, [
      {
        key: assistant.body().id,
        name: 'Helper',
        replies: 1,
        promptTokens: 10,
        completionTokens: 5,
        users: 1,
      },
      { key: null, name: null, replies: 1, promptTokens: 10, completionTokens: 5, users: 1 },
    ])

    const byUser = await client
      .get('/api/v1/chat/admin/usage')
      .bearerToken(owner.tokens.accessToken)
    assert.sameDeepMembers(byUser.body().data, [
      { key: member.user.user.id, replies: 2, promptTokens: 20, completionTokens: 10 },
      { key: owner.user.id, replies: 1, promptTokens: 10, completionTokens: 5 },
    ])
    const byModel = await client
      .get('/api/v1/chat/admin/usage')
      .qs({ groupBy: 'model', from: today, to: today })
      .bearerToken(owner.tokens.accessToken)
    assert.deepEqual(byModel.body().data, [
      { key: 'chat-default', replies: 3, promptTokens: 30, completionTokens: 15, users: 2 },
    ])
    const lastYear = await client
      .get('/api/v1/chat/admin/usage')
      .qs({ from: '2000-01-01', to: '2000-12-31' })
      .bearerToken(owner.tokens.accessToken)
    assert.deepEqual(lastYear.body().data, [])

    assertProblem(
      await client.get('/api/v1/chat/admin/usage').bearerToken(member.token),
      403,
      'forbidden'
    )
    for (const qs of [
      { from: '2026-02-30' },
      { from: '2026-05-02', to: '2026-05-01' },
      { groupBy: 'day' },
    ]) {
      assertProblem(
        await client.get('/api/v1/chat/admin/usage').qs(qs).bearerToken(owner.tokens.accessToken),
        422,
        'validation_failed'
      )
    }
  })

  test('chat limited to some model aliases: others are 403 and store nothing', async ({
    client,
    assert,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const saved = await client
      .put('/api/v1/chat/admin/settings')
      .bearerToken(owner.tokens.accessToken)
      .json({ allowedModels: ['some-other-alias'] })
    saved.assertStatus(200)
    const refused = await ask(client, owner.tokens.accessToken)
    assertProblem(refused.response, 403, 'model_not_allowed')
    const [{ total }] = await db.from('chat_messages').count('* as total')
    assert.equal(Number(total), 0)

    await client
      .put('/api/v1/chat/admin/settings')
      .bearerToken(owner.tokens.accessToken)
      .json({ allowedModels: null })
    const allowed = await ask(client, owner.tokens.accessToken)
    allowed.response.assertStatus(202)
    const settings = await client
      .get('/api/v1/chat/admin/settings')
      .bearerToken(owner.tokens.accessToken)
    assert.deepEqual(settings.body(), { allowedModels: null })
  })

  test('an admin may read a member’s conversations, and each read is in the audit log', async ({
    client,
    assert,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const member = await joinAs(client, owner, 'member')
    const { conversationId } = await ask(client, member.token)

    const listed = await client
      .get(`/api/v1/chat/admin/users/${member.user.user.id}/conversations`)
      .bearerToken(owner.tokens.accessToken)
    listed.assertStatus(200)
    assert.deepEqual(
      listed.body().data.map((conversation: { id: string }) => conversation.id),
      [conversationId]
    )
    const read = await client
      .get(`/api/v1/chat/admin/conversations/${conversationId}`)
      .bearerToken(owner.tokens.accessToken)
    read.assertStatus(200)
    assert.lengthOf(read.body().messages, 2)

    const audit = await db
      .from('identity_audit_events')
      .whereIn('event', ['chat.conversations_listed', 'chat.conversation_viewed'])
      .orderBy('id')
    assert.deepEqual(
      audit.map((entry) => [entry.event, entry.actor_user_id, entry.subject_user_id]),
      [
        ['chat.conversations_listed', owner.user.id, member.user.user.id],
        ['chat.conversation_viewed', owner.user.id, member.user.user.id],
      ]
    )

    // Members may not; another tenant's admin finds nothing (and nothing is recorded).
    assertProblem(
      await client
        .get(`/api/v1/chat/admin/conversations/${conversationId}`)
        .bearerToken(member.token),
      403,
      'forbidden'
    )
    const outsider = await registerUser(client)
    assertProblem(
      await client
        .get(`/api/v1/chat/admin/conversations/${conversationId}`)
        .bearerToken(outsider.tokens.accessToken),
      404,
      'conversation_not_found'
    )
    assertProblem(
      await client
        .get(`/api/v1/chat/admin/users/${member.user.user.id}/conversations`)
        .bearerToken(outsider.tokens.accessToken),
      404,
      'member_not_found'
    )
    // An admin demoted to member keeps their token, not their reach: roles are read per request.
    const admin = await joinAs(client, owner, 'admin')
    const demoted = await client
      .patch(`/api/v1/tenants/${owner.activeTenantId}/members/${admin.user.user.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ role: 'member' })
    demoted.assertStatus(200)
    assertProblem(
      await client
        .get(`/api/v1/chat/admin/conversations/${conversationId}`)
        .bearerToken(admin.token),
      403,
      'forbidden'
    )
    const [{ total }] = await db
      .from('identity_audit_events')
      .whereIn('event', ['chat.conversations_listed', 'chat.conversation_viewed'])
      .count('* as total')
    assert.equal(Number(total), 2)
  })
})
