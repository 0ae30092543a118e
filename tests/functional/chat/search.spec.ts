import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertProblem } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { resetModuleTables } from '#tests/helpers/database'
import { newId } from '#app/platform/ids'

type Session = Awaited<ReturnType<typeof registerUser>>

/** Messages written straight to the table: search reads what is stored, however it got there. */
async function seed(session: Session, userId: string, contents: string[]) {
  const conversationId = newId()
  await db.table('chat_conversations').insert({
    id: conversationId,
    tenant_id: session.activeTenantId,
    user_id: userId,
    title: 'Travel notes',
  })
  let parentId: string | null = null
  for (const [index, content] of contents.entries()) {
    const id = newId()
    await db.table('chat_messages').insert({
      id,
      tenant_id: session.activeTenantId,
      conversation_id: conversationId,
      user_id: userId,
      parent_id: parentId,
      role: index % 2 === 0 ? 'user' : 'assistant',
      content,
    })
    parentId = id
  }
  return conversationId
}

test.group('chat: search over one’s own messages', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetModuleTables('chat')
  })

  test('finds words and phrases in your messages only, newest first, with highlighted parts', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const colleague = await joinAs(client, owner, 'member')
    const conversationId = await seed(owner, owner.user.id, [
      'Which trains go from Lisbon to Porto?',
      'The Alfa Pendular goes from Lisbon to Porto in under three hours.',
      'And buses <b>to</b> Faro?',
    ])
    await seed(owner, colleague.user.user.id, ['Lisbon is my secret too'])

    const found = await client
      .get('/api/v1/chat/search')
      .qs({ q: 'lisbon porto' })
      .bearerToken(owner.tokens.accessToken)
    found.assertStatus(200)
    const hits = found.body().data
    assert.lengthOf(hits, 2)
    assert.equal(hits[0].role, 'assistant', 'newest first')
    assert.equal(hits[0].conversationId, conversationId)
    assert.equal(hits[0].conversationTitle, 'Travel notes')
    const marked = hits[0].highlight
      .filter((part: { match: boolean }) => part.match)
      .map((part: { text: string }) => part.text.toLowerCase())
    assert.includeMembers(marked, ['lisbon', 'porto'])
    const fragment = hits[0].highlight.map((part: { text: string }) => part.text).join('')
    assert.include(
      'The Alfa Pendular goes from Lisbon to Porto in under three hours.',
      fragment,
      'the parts put together are a fragment of the message'
    )
    assert.include(fragment, 'Lisbon to Porto')

    const phrase = await client
      .get('/api/v1/chat/search')
      .qs({ q: '"alfa pendular" -buses' })
      .bearerToken(owner.tokens.accessToken)
    assert.lengthOf(phrase.body().data, 1)

    // Markup in a message never comes back as markup: the highlight is plain text parts.
    const markup = await client
      .get('/api/v1/chat/search')
      .qs({ q: 'faro' })
      .bearerToken(owner.tokens.accessToken)
    const text = markup
      .body()
      .data[0].highlight.map((part: { text: string }) => part.text)
      .join('')
    assert.include(text, 'Faro')
    assert.notInclude(text, '<')

    // The colleague's "secret" is not the owner's to find, and the other way round.
    const theirs = await client
      .get('/api/v1/chat/search')
      .qs({ q: 'secret' })
      .bearerToken(owner.tokens.accessToken)
    assert.lengthOf(theirs.body().data, 0)
    const mine = await client
      .get('/api/v1/chat/search')
      .qs({ q: 'alfa' })
      .bearerToken(colleague.token)
    assert.lengthOf(mine.body().data, 0)
  })

  test('pages with a cursor; a missing or oversized query is a 422', async ({ client, assert }) => {
    const owner = await registerUser(client)
    await seed(
      owner,
      owner.user.id,
      Array.from({ length: 5 }, (_, index) => `note number ${index} about tiles`)
    )
    const first = await client
      .get('/api/v1/chat/search')
      .qs({ q: 'tiles', limit: 3 })
      .bearerToken(owner.tokens.accessToken)
    assert.lengthOf(first.body().data, 3)
    const second = await client
      .get('/api/v1/chat/search')
      .qs({ q: 'tiles', limit: 3, cursor: first.body().meta.nextCursor })
      .bearerToken(owner.tokens.accessToken)
    assert.lengthOf(second.body().data, 2)
    assert.isNull(second.body().meta.nextCursor)

    const forged = await client
      .get('/api/v1/chat/search')
      .qs({ q: 'tiles', cursor: Buffer.from('["v2","not-an-id"]').toString('base64url') })
      .bearerToken(owner.tokens.accessToken)
    assertProblem(forged, 422, 'validation_failed')

    for (const q of [undefined, '', 'x'.repeat(201)]) {
      const response = await client
        .get('/api/v1/chat/search')
        .qs(q === undefined ? {} : { q })
        .bearerToken(owner.tokens.accessToken)
      assertProblem(response, 422, 'validation_failed')
    }
  })

  test('a reply is found once it has settled, not while it streams', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const conversationId = await seed(owner, owner.user.id, ['How do azulejos get their blue?'])
    const question = await db
      .from('chat_messages')
      .where('conversation_id', conversationId)
      .firstOrFail()
    const replyId = newId()
    await db.table('chat_messages').insert({
      id: replyId,
      tenant_id: owner.activeTenantId,
      conversation_id: conversationId,
      user_id: owner.user.id,
      parent_id: question.id,
      role: 'assistant',
      status: 'generating',
      content: 'Cobalt',
    })
    const hits = async (q: string) => {
      const response = await client
        .get('/api/v1/chat/search')
        .qs({ q })
        .bearerToken(owner.tokens.accessToken)
      response.assertStatus(200)
      return response.body().data.map((hit: { messageId: string }) => hit.messageId) as string[]
    }
    const storedVector = async () => {
      const row = await db.from('chat_messages').where('id', replyId).select('search').firstOrFail()
      return row.search
    }

    assert.deepEqual(await hits('cobalt'), [])
    assert.isNull(await storedVector(), 'no words are indexed while the reply streams')

    // A partial save, as the runner writes it every CHAT_SAVE_EVERY_MS.
    await db
      .from('chat_messages')
      .where({ id: replyId, status: 'generating' })
      .update({ content: 'Cobalt oxide under a tin glaze' })
    assert.deepEqual(await hits('glaze'), [])
    assert.isNull(await storedVector())

    // Cancelled keeps its partial text, and that text is searchable like any settled reply.
    await db.from('chat_messages').where('id', replyId).update({ status: 'cancelled' })
    assert.deepEqual(await hits('glaze'), [replyId])
    assert.deepEqual(await hits('azulejos'), [question.id], 'the question was never held back')
  })
})
