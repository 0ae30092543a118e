import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertProblem } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { resetModuleTables } from '#tests/helpers/database'
import { resetGateway } from '#tests/helpers/gateway'
import { chatTenant, readGeneration } from '#tests/helpers/chat'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'

type Client = Parameters<typeof registerUser>[0]

async function createAssistant(client: Client, token: string, body: Record<string, unknown>) {
  const response = await client.post('/api/v1/chat/assistants').bearerToken(token).json(body)
  if (response.status() !== 201)
    throw new Error(`assistant: ${response.status()} ${response.text()}`)
  return response.body() as { id: string; visibility: string }
}

let counter = 0
async function sendAs(
  client: Client,
  token: string,
  body: Record<string, unknown>,
  conversationId?: string
) {
  let id = conversationId
  if (!id) {
    const created = await client.post('/api/v1/chat/conversations').bearerToken(token).json({})
    id = created.body().id as string
  }
  const response = await client
    .post(`/api/v1/chat/conversations/${id}/messages`)
    .bearerToken(token)
    .json({ content: 'Hi', clientRequestId: `a-${++counter}`, ...body })
  return { response, conversationId: id }
}

const messagesIn = async (conversationId: string) => {
  const [{ total }] = await db
    .from('chat_messages')
    .where('conversation_id', conversationId)
    .count('* as total')
  return Number(total)
}

const names = (response: { body(): { data: Array<{ name: string }> } }) =>
  response.body().data.map((assistant) => assistant.name)

test.group('chat: assistants and the explore catalog', (group) => {
  let fake: FakeUpstream
  group.setup(async () => {
    fake = await startOpenAiFake()
    return () => fake.close()
  })
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    await resetModuleTables('chat')
    fake.requests.length = 0
    fake.script = []
    fake.fallback = { kind: 'ok' }
  })

  test('who sees what: private to its owner, tenant to colleagues, public to every tenant', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const member = await joinAs(client, owner, 'member')
    const outsider = await registerUser(client)
    const privateOne = await createAssistant(client, member.token, { name: 'Mine' })
    const shared = await createAssistant(client, member.token, {
      name: 'Team',
      visibility: 'tenant',
    })
    const refused = await client
      .post('/api/v1/chat/assistants')
      .bearerToken(member.token)
      .json({ name: 'Everyone', visibility: 'public' })
    assertProblem(refused, 403, 'forbidden')
    const open = await createAssistant(client, owner.tokens.accessToken, {
      name: 'Everyone',
      visibility: 'public',
      starters: ['Plan my week'],
      category: 'Productivity',
    })

    const see = (token: string, id: string) =>
      client.get(`/api/v1/chat/assistants/${id}`).bearerToken(token)
    const ownView = await see(member.token, privateOne.id)
    ownView.assertStatus(200)
    assertProblem(await see(owner.tokens.accessToken, privateOne.id), 404, 'assistant_not_found')
    const colleagueView = await see(owner.tokens.accessToken, shared.id)
    colleagueView.assertStatus(200)
    assertProblem(await see(outsider.tokens.accessToken, shared.id), 404, 'assistant_not_found')
    const seenOutside = await see(outsider.tokens.accessToken, open.id)
    seenOutside.assertStatus(200)
    assert.include(seenOutside.body(), { category: 'productivity', visibility: 'public' })

    // Changing: the owner, or the owning tenant's admins; nobody from elsewhere.
    assertProblem(
      await client
        .patch(`/api/v1/chat/assistants/${open.id}`)
        .bearerToken(outsider.tokens.accessToken)
        .json({ name: 'Hijacked' }),
      403,
      'not_assistant_owner'
    )
    assertProblem(
      await client.delete(`/api/v1/chat/assistants/${open.id}`).bearerToken(member.token),
      403,
      'not_assistant_owner'
    )
    const moderated = await client
      .patch(`/api/v1/chat/assistants/${shared.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ description: 'Checked by an admin' })
    moderated.assertStatus(200)
    const row = await db.from('chat_assistants').where('id', open.id).first()
    assert.equal(row.name, 'Everyone')

    // Shared once → one chat.assistant_published; private ones never.
    const published = await db
      .from('messaging_outbox')
      .where('type', 'chat.assistant_published')
      .whereRaw(`payload->>'assistantId' = ANY(?)`, [[privateOne.id, shared.id, open.id]])
      .select('payload')
    assert.sameMembers(
      published.map((entry) => entry.payload.assistantId),
      [shared.id, open.id]
    )
  })

  test('fork makes a private copy; favourites are per user', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const outsider = await registerUser(client)
    const open = await createAssistant(client, owner.tokens.accessToken, {
      name: 'Editor',
      systemPrompt: 'You edit prose.',
      model: 'house-model',
      visibility: 'public',
    })
    const forked = await client
      .post(`/api/v1/chat/assistants/${open.id}/fork`)
      .bearerToken(outsider.tokens.accessToken)
    forked.assertStatus(201)
    assert.include(forked.body(), {
      name: 'Editor (copy)',
      systemPrompt: 'You edit prose.',
      visibility: 'private',
      forkedFrom: open.id,
      model: null,
    })

    const favourite = await client
      .put(`/api/v1/chat/assistants/${open.id}/favourite`)
      .bearerToken(outsider.tokens.accessToken)
    favourite.assertStatus(204)
    await client
      .put(`/api/v1/chat/assistants/${open.id}/favourite`)
      .bearerToken(outsider.tokens.accessToken)
    const favourites = await client
      .get('/api/v1/chat/assistants')
      .qs({ scope: 'favourites' })
      .bearerToken(outsider.tokens.accessToken)
    assert.deepEqual(names(favourites), ['Editor'])
    const ownersFavourites = await client
      .get('/api/v1/chat/assistants')
      .qs({ scope: 'favourites' })
      .bearerToken(owner.tokens.accessToken)
    assert.lengthOf(ownersFavourites.body().data, 0)
    const mine = await client
      .get('/api/v1/chat/assistants')
      .bearerToken(outsider.tokens.accessToken)
    assert.deepEqual(names(mine), ['Editor (copy)'])

    await client
      .delete(`/api/v1/chat/assistants/${open.id}/favourite`)
      .bearerToken(outsider.tokens.accessToken)
      .then((response) => response.assertStatus(204))
    const none = await client
      .get('/api/v1/chat/assistants')
      .qs({ scope: 'favourites' })
      .bearerToken(outsider.tokens.accessToken)
    assert.lengthOf(none.body().data, 0)
  })

  test('a message sent with an assistant uses its prompt, model parameters, and stays with it', async ({
    client,
    assert,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const token = owner.tokens.accessToken
    const assistant = await createAssistant(client, token, {
      name: 'Poet',
      systemPrompt: 'Answer in verse.',
      temperature: 0.3,
      maxTokens: 200,
    })
    const first = await sendAs(client, token, { assistantId: assistant.id })
    first.response.assertStatus(202)
    assert.equal(first.response.body().assistantMessage.assistantId, assistant.id)
    await readGeneration(token, first.response.body().generation.id)
    const call = fake.chatCalls()[0] as { messages: unknown[] }
    assert.deepEqual(call.messages[0], { role: 'system', content: 'Answer in verse.' })
    assert.include(call, { temperature: 0.3, max_tokens: 200 })

    // The next message of that conversation continues with the assistant.
    fake.requests.length = 0
    const next = await sendAs(client, token, {}, first.conversationId)
    await readGeneration(token, next.response.body().generation.id)
    assert.deepEqual((fake.chatCalls()[0] as { messages: unknown[] }).messages[0], {
      role: 'system',
      content: 'Answer in verse.',
    })
    const conversation = await client
      .get(`/api/v1/chat/conversations/${first.conversationId}`)
      .bearerToken(token)
    assert.equal(conversation.body().assistantId, assistant.id)

    // Someone else's private assistant is not there to use.
    const colleague = await joinAs(client, owner, 'member')
    const theirs = await sendAs(client, colleague.token, { assistantId: assistant.id })
    assertProblem(theirs.response, 404, 'assistant_not_found')
  })

  test('an assistant made private since: its conversation goes on without it; naming it is a 404', async ({
    client,
    assert,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const colleague = await joinAs(client, owner, 'member')
    const token = owner.tokens.accessToken
    const shared = await createAssistant(client, colleague.token, {
      name: 'Poet',
      systemPrompt: 'Answer in verse.',
      visibility: 'tenant',
    })
    const first = await sendAs(client, token, { assistantId: shared.id })
    first.response.assertStatus(202)
    await readGeneration(token, first.response.body().generation.id)

    const hidden = await client
      .patch(`/api/v1/chat/assistants/${shared.id}`)
      .bearerToken(colleague.token)
      .json({ visibility: 'private' })
    hidden.assertStatus(200)
    fake.requests.length = 0
    const next = await sendAs(client, token, {}, first.conversationId)
    next.response.assertStatus(202)
    assert.isNull(next.response.body().assistantMessage.assistantId)
    await readGeneration(token, next.response.body().generation.id)
    const call = fake.chatCalls()[0] as { messages: Array<{ role: string; content: string }> }
    assert.notDeepInclude(call.messages, { role: 'system', content: 'Answer in verse.' })

    const named = await sendAs(client, token, { assistantId: shared.id }, first.conversationId)
    assertProblem(named.response, 404, 'assistant_not_found')
    const stranger = await sendAs(
      client,
      token,
      { assistantId: crypto.randomUUID() },
      first.conversationId
    )
    assertProblem(stranger.response, 404, 'assistant_not_found')
    assert.equal(await messagesIn(first.conversationId), 4, 'the refused sends stored nothing')
  })

  test('explore: popular by distinct users in 30 days, featured by admins, new, q and category', async ({
    client,
    assert,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const member = await joinAs(client, owner, 'member')
    const token = owner.tokens.accessToken
    const busy = await createAssistant(client, token, {
      name: 'Busy',
      visibility: 'tenant',
      category: 'writing',
    })
    const quiet = await createAssistant(client, token, {
      name: 'Quiet',
      description: 'Rarely asked',
      visibility: 'tenant',
      category: 'code',
    })
    await createAssistant(client, token, { name: 'Hidden', visibility: 'private' })

    // Busy: two users once each. Quiet: one user, many messages (messages do not count).
    for (const who of [token, member.token]) {
      const sent = await sendAs(client, who, { assistantId: busy.id })
      await readGeneration(who, sent.response.body().generation.id)
    }
    let conversationId: string | undefined
    for (let index = 0; index < 3; index++) {
      const sent = await sendAs(client, member.token, { assistantId: quiet.id }, conversationId)
      conversationId = sent.conversationId
      await readGeneration(member.token, sent.response.body().generation.id)
    }
    // A use older than 30 days is not counted.
    await db
      .table('chat_assistant_users')
      .insert({ assistant_id: quiet.id, user_id: owner.user.id, last_used_on: '2000-01-01' })

    const popular = await client.get('/api/v1/chat/explore').bearerToken(member.token)
    popular.assertStatus(200)
    assert.deepEqual(names(popular), ['Busy', 'Quiet'])
    assert.deepEqual(
      popular.body().data.map((entry: { usersLast30Days: number }) => entry.usersLast30Days),
      [2, 1]
    )

    const feature = await client
      .put(`/api/v1/chat/admin/assistants/${quiet.id}/featured`)
      .bearerToken(token)
      .json({ featured: true })
    feature.assertStatus(200)
    assertProblem(
      await client
        .put(`/api/v1/chat/admin/assistants/${busy.id}/featured`)
        .bearerToken(member.token)
        .json({ featured: true }),
      403,
      'forbidden'
    )
    const featured = await client
      .get('/api/v1/chat/explore')
      .qs({ sort: 'featured' })
      .bearerToken(member.token)
    assert.deepEqual(names(featured), ['Quiet'])
    assert.isTrue(featured.body().data[0].featured)

    const newest = await client
      .get('/api/v1/chat/explore')
      .qs({ sort: 'new', limit: 1 })
      .bearerToken(member.token)
    assert.deepEqual(names(newest), ['Quiet'])
    const older = await client
      .get('/api/v1/chat/explore')
      .qs({ sort: 'new', limit: 1, cursor: newest.body().meta.nextCursor })
      .bearerToken(member.token)
    assert.deepEqual(names(older), ['Busy'])

    const searched = await client
      .get('/api/v1/chat/explore')
      .qs({ q: 'rarely' })
      .bearerToken(member.token)
    assert.deepEqual(names(searched), ['Quiet'])
    const inCategory = await client
      .get('/api/v1/chat/explore')
      .qs({ category: 'writing' })
      .bearerToken(member.token)
    assert.deepEqual(names(inCategory), ['Busy'])

    const categories = await client.get('/api/v1/chat/explore/categories').bearerToken(member.token)
    assert.deepEqual(categories.body().data, [
      { category: 'code', assistants: 1 },
      { category: 'writing', assistants: 1 },
    ])

    // Another tenant sees none of these tenant-wide assistants.
    const outsider = await registerUser(client)
    const elsewhere = await client
      .get('/api/v1/chat/explore')
      .bearerToken(outsider.tokens.accessToken)
    assert.lengthOf(elsewhere.body().data, 0)
  })

  test('bad input is a problem and stores nothing', async ({ client, assert }) => {
    const owner = await registerUser(client)
    for (const body of [
      {},
      { name: '' },
      { name: 'x'.repeat(101) },
      { name: 'T', temperature: 3 },
      { name: 'T', starters: Array(7).fill('go') },
      { name: 'T', visibility: 'everyone' },
      { name: 'T', category: '<script>' },
    ]) {
      const response = await client
        .post('/api/v1/chat/assistants')
        .bearerToken(owner.tokens.accessToken)
        .json(body)
      assertProblem(response, 422, 'validation_failed')
    }
    assertProblem(
      await client.get('/api/v1/chat/assistants/not-a-uuid').bearerToken(owner.tokens.accessToken),
      404,
      'assistant_not_found'
    )
    const [{ total }] = await db.from('chat_assistants').count('* as total')
    assert.equal(Number(total), 0)
  })
})
