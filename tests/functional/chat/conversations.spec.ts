import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertProblem } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { resetModuleTables } from '#tests/helpers/database'

const path = '/api/v1/chat/conversations'
type Session = Awaited<ReturnType<typeof registerUser>>

const countRows = async () => {
  const [{ count }] = await db.from('chat_conversations').count('* as count')
  return Number(count)
}

/*
 * Every response here is also checked against /openapi.json by the test
 * bootstrap (status, content type, body).
 */
test.group('chat: conversations', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetModuleTables('chat')
  })

  const start = (client: Parameters<typeof registerUser>[0], token: string, title?: string) =>
    client
      .post(path)
      .bearerToken(token)
      .json(title === undefined ? {} : { title })

  test('create, show, rename, pin, archive, restore, delete', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const token = owner.tokens.accessToken
    const untitled = await start(client, token)
    untitled.assertStatus(201)
    assert.include(untitled.body(), {
      title: 'New conversation',
      pinned: false,
      archivedAt: null,
      activeLeafId: null,
      userId: owner.user.id,
    })
    const id = untitled.body().id

    const shown = await client.get(`${path}/${id}`).bearerToken(token)
    assert.deepEqual(shown.body(), untitled.body())

    const renamed = await client
      .patch(`${path}/${id}`)
      .bearerToken(token)
      .json({ title: 'Trip plan' })
    assert.equal(renamed.body().title, 'Trip plan')
    const pinned = await client.patch(`${path}/${id}`).bearerToken(token).json({ pinned: true })
    assert.include(pinned.body(), { title: 'Trip plan', pinned: true })

    const archived = await client.patch(`${path}/${id}`).bearerToken(token).json({ archived: true })
    const archivedAt = archived.body().archivedAt
    assert.isString(archivedAt)
    const again = await client.patch(`${path}/${id}`).bearerToken(token).json({ archived: true })
    assert.equal(again.body().archivedAt, archivedAt, 'archiving twice keeps the first time')
    const restored = await client
      .patch(`${path}/${id}`)
      .bearerToken(token)
      .json({ archived: false })
    assert.isNull(restored.body().archivedAt)

    const row = await db.from('chat_conversations').where('id', id).firstOrFail()
    assert.include(row, { title: 'Trip plan', pinned: true, archived_at: null })
    assert.equal(row.tenant_id, owner.activeTenantId)

    const removed = await client.delete(`${path}/${id}`).bearerToken(token)
    removed.assertStatus(204)
    assert.equal(await countRows(), 0)
    assertProblem(
      await client.get(`${path}/${id}`).bearerToken(token),
      404,
      'conversation_not_found'
    )
  })

  test('lists: newest first, paged, by title, pinned, and archived apart', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const token = owner.tokens.accessToken
    const ids: string[] = []
    for (const title of ['Rust lifetimes', 'Tax 50% question', 'Rust macros', 'Recipes']) {
      const created = await start(client, token, title)
      ids.push(created.body().id)
    }
    await client.patch(`${path}/${ids[1]}`).bearerToken(token).json({ pinned: true })
    await client.patch(`${path}/${ids[3]}`).bearerToken(token).json({ archived: true })

    const titles = (response: { body(): { data: Array<{ title: string }> } }) =>
      response.body().data.map((conversation) => conversation.title)

    const first = await client.get(path).qs({ limit: 2 }).bearerToken(token)
    assert.deepEqual(titles(first), ['Rust macros', 'Tax 50% question'])
    const second = await client
      .get(path)
      .qs({ limit: 2, cursor: first.body().meta.nextCursor })
      .bearerToken(token)
    assert.deepEqual(titles(second), ['Rust lifetimes'])
    assert.isNull(second.body().meta.nextCursor)

    assert.deepEqual(titles(await client.get(path).qs({ q: 'rust' }).bearerToken(token)), [
      'Rust macros',
      'Rust lifetimes',
    ])
    // LIKE wildcards in the search are literal text.
    assert.deepEqual(titles(await client.get(path).qs({ q: '50%' }).bearerToken(token)), [
      'Tax 50% question',
    ])
    assert.deepEqual(titles(await client.get(path).qs({ q: '%' }).bearerToken(token)), [
      'Tax 50% question',
    ])
    assert.deepEqual(titles(await client.get(path).qs({ pinned: true }).bearerToken(token)), [
      'Tax 50% question',
    ])
    assert.deepEqual(titles(await client.get(path).qs({ archived: true }).bearerToken(token)), [
      'Recipes',
    ])
  })

  test('a conversation is its user’s alone: others in the tenant and other tenants get 404', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const created = await start(client, owner.tokens.accessToken, 'Private thoughts')
    const mine = created.body().id
    const colleague = await joinAs(client, owner, 'admin')
    const stranger: Session = await registerUser(client)

    for (const token of [colleague.token, stranger.tokens.accessToken]) {
      assertProblem(
        await client.get(`${path}/${mine}`).bearerToken(token),
        404,
        'conversation_not_found'
      )
      assertProblem(
        await client.patch(`${path}/${mine}`).bearerToken(token).json({ title: 'Mine now' }),
        404,
        'conversation_not_found'
      )
      assertProblem(
        await client.delete(`${path}/${mine}`).bearerToken(token),
        404,
        'conversation_not_found'
      )
      const listed = await client.get(path).bearerToken(token)
      listed.assertStatus(200)
      assert.deepEqual(listed.body().data, [])
    }
    const row = await db.from('chat_conversations').where('id', mine).firstOrFail()
    assert.equal(row.title, 'Private thoughts')
    assertProblem(
      await client.get(`${path}/not-a-uuid`).bearerToken(owner.tokens.accessToken),
      404,
      'conversation_not_found'
    )
  })

  test('every member may chat, whatever their role', async ({ client }) => {
    const owner = await registerUser(client)
    for (const role of ['member', 'agent'] as const) {
      const { token } = await joinAs(client, owner, role)
      const created = await start(client, token, `As ${role}`)
      created.assertStatus(201)
    }
  })

  test('bad input is a 422 and changes nothing', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const token = owner.tokens.accessToken
    for (const body of [{ title: '' }, { title: 'x'.repeat(201) }, { title: 42 }]) {
      const response = await client.post(path).bearerToken(token).json(body)
      assertProblem(response, 422, 'validation_failed')
      assert.equal(response.body().errors[0].field, 'title')
    }
    assert.equal(await countRows(), 0)

    const kept = await start(client, token, 'Kept')
    const id = kept.body().id
    assertProblem(
      await client.patch(`${path}/${id}`).bearerToken(token).json({ pinned: 'very' }),
      422,
      'validation_failed'
    )
    assertProblem(
      await client.get(path).qs({ cursor: 'forged' }).bearerToken(token),
      422,
      'validation_failed'
    )
    assertProblem(
      await client.get(path).qs({ limit: 1000 }).bearerToken(token),
      422,
      'validation_failed'
    )
    const row = await db.from('chat_conversations').where('id', id).firstOrFail()
    assert.include(row, { title: 'Kept', pinned: false })
  })

  test('a user keeps at most CHAT_MAX_CONVERSATIONS_PER_USER, even when creating at once', async ({
    client,
    assert,
  }) => {
    // .env.test sets the cap to 5.
    const owner = await registerUser(client)
    const token = owner.tokens.accessToken
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, index) => start(client, token, `Burst ${index}`))
    )
    const statuses = answers.map((answer) => answer.status()).sort()
    assert.deepEqual(statuses, [201, 201, 201, 201, 201, 409, 409, 409])
    assertProblem(
      answers.find((answer) => answer.status() === 409)!,
      409,
      'conversation_limit_reached'
    )
    assert.equal(await countRows(), 5)

    const colleague = await joinAs(client, owner, 'member')
    const ownCap = await start(client, colleague.token, 'Own cap')
    ownCap.assertStatus(201)
  })

  test('without a token, 401; without an active tenant, 403', async ({ client }) => {
    assertProblem(await client.get(path), 401, 'unauthenticated')
    const loner = await registerUser(client, { tenantName: undefined })
    assertProblem(
      await client.get(path).bearerToken(loner.tokens.accessToken),
      403,
      'no_active_tenant'
    )
  })
})
