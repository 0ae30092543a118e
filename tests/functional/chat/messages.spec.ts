import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import redis from '@adonisjs/redis/services/main'
import { redisConfigured } from '#config/redis'
import { generationLog } from '#modules/chat/services/generation_log'
import { storeTitle } from '#modules/chat/services/titles'
import { generationRunner } from '#modules/chat/services/runner'
import Generation from '#modules/chat/models/generation'
import { tenancy } from '#app/tenancy/tenancy'
import { newId } from '#app/platform/ids'
import { assertProblem } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { resetModuleTables } from '#tests/helpers/database'
import { gatewayBase, resetGateway } from '#tests/helpers/gateway'
import { chatTenant, collect, readGeneration, textOf } from '#tests/helpers/chat'
import { drainBus, until, waitingForLock } from '#tests/helpers/waiting'
import { statementsSentDuring } from '#tests/helpers/sql_spy'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { deliverDueWebhooks } from '#modules/notifications/services/webhooks'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { withinOneMinute } from '#tests/helpers/quotas'
import emitter from '@adonisjs/core/services/emitter'
import type { HttpContext } from '@adonisjs/core/http'
import { collectedWithin } from '#tests/helpers/garbage'

type Client = Parameters<typeof registerUser>[0]

const REPLY =
  'Lisbon sits on seven hills by the Tagus, and its trams climb them all day long while the river shines below.'

let requestCounter = 0
const requestId = () => `req-${process.pid}-${++requestCounter}`

async function newConversation(client: Client, token: string) {
  const response = await client.post('/api/v1/chat/conversations').bearerToken(token).json({})
  if (response.status() !== 201) throw new Error(`conversation: ${response.status()}`)
  return response.body().id as string
}

function send(
  client: Client,
  token: string,
  conversationId: string,
  body: Record<string, unknown>
) {
  return client
    .post(`/api/v1/chat/conversations/${conversationId}/messages`)
    .bearerToken(token)
    .json({ clientRequestId: requestId(), ...body })
}

/** Sends and reads the reply's stream to its end. */
async function ask(
  client: Client,
  token: string,
  conversationId: string,
  body: Record<string, unknown>
) {
  const response = await send(client, token, conversationId, body)
  if (response.status() !== 202) throw new Error(`send: ${response.status()} ${response.text()}`)
  const events = await readGeneration(token, response.body().generation.id)
  return { accepted: response.body(), events }
}

const count = async (table: string) => {
  const [{ total }] = await db.from(table).count('* as total')
  return Number(total)
}

test.group('chat: messages and streamed replies', (group) => {
  let fake: FakeUpstream

  group.setup(async () => {
    fake = await startOpenAiFake()
    return () => fake.close()
  })

  /** A chat tenant's owner, their token, and a new conversation of theirs. */
  async function ownerInConversation(client: Client) {
    const owner = await chatTenant(client, fake.url)
    const token = owner.tokens.accessToken
    return { owner, token, conversationId: await newConversation(client, token) }
  }

  /** The same, with limits of the owner's own, so what a send reserves shows in /me/quota. */
  async function ownerWithQuota(
    client: Client,
    limits: { messagesPerMinute: number; tokensPerDay?: number }
  ) {
    const started = await ownerInConversation(client)
    const quota = await client
      .put(`/api/v1/chat/admin/quotas/users/${started.owner.user.id}`)
      .bearerToken(started.token)
      .json(limits)
    quota.assertStatus(200)
    return started
  }

  /**
   * An owner's question whose reply streams slowly from the fake (a chunk every
   * `chunkDelayMs`), read until `deltas` deltas have come; the reply goes on.
   */
  async function replyUnderway(client: Client, chunkDelayMs: number, deltas = 1) {
    const started = await ownerInConversation(client)
    fake.script = [{ kind: 'ok', reply: REPLY, chunkDelayMs }]
    const response = await send(client, started.token, started.conversationId, {
      content: 'Lisbon?',
    })
    const generationId = response.body().generation.id as string
    const seen = await readGeneration(started.token, generationId, {
      stopWhen: (events) => events.filter((event) => event.event === 'delta').length >= deltas,
    })
    return { ...started, response, generationId, seen }
  }

  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    await resetModuleTables('chat')
    await resetModuleTables('notifications')
    fake.script = []
    fake.fallback = { kind: 'ok' }
    fake.requests.length = 0
  })

  test('a question is answered in the background and streamed with numbered events', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    fake.script = [{ kind: 'ok', reply: REPLY, chunkDelayMs: 2 }]

    const response = await send(client, token, conversationId, { content: 'Tell me about Lisbon' })
    response.assertStatus(202)
    const { userMessage, assistantMessage, generation } = response.body()
    assert.include(userMessage, { role: 'user', content: 'Tell me about Lisbon', parentId: null })
    assert.include(assistantMessage, { role: 'assistant', parentId: userMessage.id })
    assert.include(generation, { assistantMessageId: assistantMessage.id, model: 'chat-default' })

    const events = await readGeneration(token, generation.id)
    assert.deepEqual(
      events.map((event) => event.id),
      events.map((_, index) => String(index + 1)),
      'every event numbered, in order'
    )
    assert.equal(events[0].event, 'message.created')
    assert.equal(textOf(events), REPLY)
    const names = events.map((event) => event.event)
    assert.includeMembers(names, ['usage', 'title', 'done'])
    assert.equal(names.at(-1), 'done')
    const done = events.at(-1)!.data
    assert.equal(done.status, 'completed')
    assert.include(done.message, { id: assistantMessage.id, content: REPLY, status: 'complete' })

    // What the model saw: the question, nothing else.
    const sent = fake.chatCalls()[0]
    assert.deepEqual(sent.messages, [{ role: 'user', content: 'Tell me about Lisbon' }])

    const path = await client
      .get(`/api/v1/chat/conversations/${conversationId}/messages`)
      .bearerToken(token)
    path.assertStatus(200)
    assert.deepEqual(
      path
        .body()
        .data.map((message: { role: string; status: string }) => [message.role, message.status]),
      [
        ['user', 'complete'],
        ['assistant', 'complete'],
      ]
    )
    assert.equal(path.body().activeLeafId, assistantMessage.id)
    const conversation = await client
      .get(`/api/v1/chat/conversations/${conversationId}`)
      .bearerToken(token)
    assert.equal(conversation.body().title, 'Hello from the fake upstream')
    const shown = await client.get(`/api/v1/chat/generations/${generation.id}`).bearerToken(token)
    assert.equal(shown.body().status, 'completed')
  })

  test('a client that drops mid-reply resumes with Last-Event-ID: same text, no delta twice', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    fake.script = [{ kind: 'ok', reply: REPLY, chunkDelayMs: 15 }]
    const response = await send(client, token, conversationId, { content: 'Lisbon?' })
    const generationId = response.body().generation.id

    const first = await readGeneration(token, generationId, {
      stopWhen: (events) => events.filter((event) => event.event === 'delta').length >= 3,
    })
    assert.notInclude(
      first.map((event) => event.event),
      'done',
      'the client left before the end'
    )
    const rest = await readGeneration(token, generationId, { lastEventId: first.at(-1)!.id })
    const all = [...first, ...rest]
    assert.equal(textOf(all), REPLY)
    const ids = all.map((event) => Number(event.id))
    assert.deepEqual(
      ids,
      [...new Set(ids)].sort((a, b) => a - b),
      'each event once, in order'
    )
    assert.equal(all.at(-1)!.event, 'done')

    // Reading again from the start replays everything, as long as the log is kept.
    const replay = await readGeneration(token, generationId)
    assert.equal(textOf(replay), REPLY)
  })

  test('a reply runs on after its request answered, without keeping that request alive', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    // The fake sends the first chunk, then waits until the check below is done.
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    fake.script = [{ kind: 'ok', reply: REPLY, holdAfterFirstChunk: released }]
    const sends: Array<WeakRef<HttpContext>> = []
    const keepSends = ({ ctx }: { ctx: HttpContext }) => {
      if (ctx.request.method() === 'POST' && ctx.request.url().endsWith('/messages')) {
        sends.push(new WeakRef(ctx))
      }
    }
    emitter.on('http:request_completed', keepSends)
    try {
      // Closed after its answer: the server's keep-alive timer would hold it otherwise.
      const response = await send(client, token, conversationId, { content: 'Lisbon?' }).header(
        'connection',
        'close'
      )
      response.assertStatus(202)
      const generationId = response.body().generation.id as string
      const seen = await readGeneration(token, generationId, {
        stopWhen: (events) => events.some((event) => event.event === 'delta'),
      })
      assert.lengthOf(sends, 1)
      assert.isTrue(await collectedWithin(sends[0]), 'the send request is not kept by its reply')
      const generation = await db.from('chat_generations').where('id', generationId).first()
      assert.equal(generation.status, 'running', 'the reply is still being written')

      release()
      const rest = await readGeneration(token, generationId, {
        lastEventId: seen.at(-1)!.id,
      })
      assert.equal(rest.at(-1)?.event, 'done')
      assert.equal(textOf([...seen, ...rest]), REPLY, 'the whole reply, none of it lost')
    } finally {
      release()
      emitter.off('http:request_completed', keepSends)
    }
  })

  test('POST with Accept: text/event-stream answers with the stream itself', async ({
    assert,
    client,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    const controller = new AbortController()
    const response = await fetch(
      `${gatewayBase()}/api/v1/chat/conversations/${conversationId}/messages`,
      {
        method: 'POST',
        headers: {
          'authorization': `Bearer ${token}`,
          'content-type': 'application/json',
          'accept': 'text/event-stream',
        },
        body: JSON.stringify({ content: 'Hi', clientRequestId: requestId() }),
        signal: controller.signal,
      }
    )
    assert.include(response.headers.get('content-type') ?? '', 'text/event-stream')
    const events = await collect(response, controller)
    assert.equal(events[0].event, 'message.created')
    assert.equal(textOf(events), 'Hello from the fake upstream.')
    assert.equal(events.at(-1)!.event, 'done')
  })

  test('cancel stops the reply and keeps what it wrote, marked cancelled', async ({
    client,
    assert,
  }) => {
    const { token, response, generationId, seen } = await replyUnderway(client, 40, 2)
    const cancelled = await client
      .post(`/api/v1/chat/generations/${generationId}/cancel`)
      .bearerToken(token)
    cancelled.assertStatus(202)

    const rest = await readGeneration(token, generationId, { lastEventId: seen.at(-1)!.id })
    const done = rest.at(-1)!
    assert.equal(done.event, 'done')
    assert.equal(done.data.status, 'cancelled')
    const partial = textOf([...seen, ...rest])
    assert.isAbove(partial.length, 0)
    assert.isBelow(partial.length, REPLY.length, 'stopped before the end')
    assert.isTrue(REPLY.startsWith(partial))

    const stored = await db
      .from('chat_messages')
      .where('id', response.body().assistantMessage.id)
      .first()
    assert.include(stored, { status: 'cancelled', content: partial })
    const generation = await client
      .get(`/api/v1/chat/generations/${generationId}`)
      .bearerToken(token)
    assert.equal(generation.body().status, 'cancelled')
    await until(async () => fake.aborted > 0, 5000)

    // Cancelling again changes nothing.
    const again = await client
      .post(`/api/v1/chat/generations/${generationId}/cancel`)
      .bearerToken(token)
    assert.equal(again.body().status, 'cancelled')
  })

  test('a lapsed lease of a reply this process is writing: its own sweep leaves the reply be', async ({
    client,
    assert,
  }) => {
    const { token, response, generationId, seen } = await replyUnderway(client, 40)
    // As after PostgreSQL was away longer than the lease: every lease looks lapsed at once.
    await db
      .from('chat_generations')
      .where('id', generationId)
      .update({ due_at: db.raw(`now() - interval '1 minute'`) })

    assert.equal(await generationRunner.pass(), 0)
    const during = await db.from('chat_generations').where('id', generationId).first()
    assert.equal(during.status, 'running', 'not taken from its own live runner')

    const rest = await readGeneration(token, generationId, { lastEventId: seen.at(-1)!.id })
    assert.deepInclude(rest.at(-1)!.data, { status: 'completed' })
    assert.equal(textOf([...seen, ...rest]), REPLY)
    assert.notInclude(
      rest.map((event) => event.event),
      'error'
    )
    const stored = await db
      .from('chat_messages')
      .where('id', response.body().assistantMessage.id)
      .first()
    assert.include(stored, { status: 'complete', content: REPLY })
  })

  test('a reply ends in one round trip: its text, its event and the generation end together', async ({
    client,
    assert,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const token = owner.tokens.accessToken
    // Titled already: no title to ask for, so the reply's end is the generation's end too.
    const created = await client
      .post('/api/v1/chat/conversations')
      .bearerToken(token)
      .json({ title: 'Rivers' })
    fake.script = [{ kind: 'ok', reply: REPLY, usage: { prompt: 11, completion: 23 } }]
    let asked: Awaited<ReturnType<typeof ask>> | undefined
    const sent = await statementsSentDuring(async () => {
      asked = await ask(client, token, created.body().id, { content: 'Lisbon?' })
    })
    const { accepted, events } = asked!
    assert.deepInclude(events.at(-1)!.data, { status: 'completed' })

    // pg sees a one-trip write's last statement: the send's read, its store, then the end.
    const chatStatements = sent.filter((text) => /chat_/.test(text))
    assert.lengthOf(chatStatements, 3, chatStatements.join('\n---\n'))
    assert.match(chatStatements[2], /UPDATE chat_generations\s+SET status/)

    const reply = await db.from('chat_messages').where('id', accepted.assistantMessage.id).first()
    assert.include(reply, {
      status: 'complete',
      content: REPLY,
      prompt_tokens: 11,
      completion_tokens: 23,
    })
    const generation = await db.from('chat_generations').where('id', accepted.generation.id).first()
    assert.equal(generation.status, 'completed')
    assert.isNotNull(generation.finished_at)
    assert.isNull(generation.ticket)
    assert.isNull(generation.prompt)
    const [event] = await db
      .from('messaging_outbox')
      .where('type', 'chat.message_completed')
      .whereRaw(`payload->>'messageId' = ?`, [accepted.assistantMessage.id])
    assert.deepEqual(event.payload, {
      messageId: accepted.assistantMessage.id,
      conversationId: created.body().id,
      userId: owner.user.id,
      model: 'chat-default',
      promptTokens: 11,
      completionTokens: 23,
    })
    assert.equal(event.tenant_id, owner.activeTenantId)
  })

  test('a first reply and its title: the title and the generation end in one round trip', async ({
    client,
    assert,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const token = owner.tokens.accessToken
    const conversationId = await newConversation(client, token)
    fake.fallback = { kind: 'ok', reply: 'Porto by train.' }
    let asked: Awaited<ReturnType<typeof ask>> | undefined
    const sent = await statementsSentDuring(async () => {
      asked = await ask(client, token, conversationId, { content: 'Plan a trip to Porto' })
    })
    assert.deepInclude(asked!.events.at(-1)!.data, { status: 'completed' })

    // The read, the store, the reply's end with its event, then the title with the generation's end.
    const chatStatements = sent.filter((text) => /chat_/.test(text))
    assert.lengthOf(chatStatements, 4, chatStatements.join('\n---\n'))
    assert.match(chatStatements[2], /INSERT INTO messaging_outbox/)
    assert.match(chatStatements[3], /UPDATE chat_generations\s+SET status/)
    const conversation = await db.from('chat_conversations').where('id', conversationId).first()
    assert.equal(conversation.title, 'Porto by train')
    const generation = await db
      .from('chat_generations')
      .where('id', asked!.accepted.generation.id)
      .first()
    assert.include(generation, { status: 'completed', ticket: null, prompt: null })
    assert.isNotNull(generation.finished_at)
  })

  test('a conversation deleted while its reply streams: the reply stops, nothing stored, no event', async ({
    client,
    assert,
  }) => {
    // Slow enough that the reply could not end by itself before the test looks.
    const { token, conversationId, response, generationId, seen } = await replyUnderway(client, 300)

    const deleted = await client
      .delete(`/api/v1/chat/conversations/${conversationId}`)
      .bearerToken(token)
    deleted.assertStatus(204)

    // The log still answers its owner: the reply stops as if cancelled (the upstream call is
    // abandoned, so no more tokens are generated or charged), and its end stores nothing.
    const rest = await readGeneration(token, generationId, { lastEventId: seen.at(-1)!.id })
    const done = rest.at(-1)!
    assert.equal(done.event, 'done')
    assert.include(done.data, { status: 'cancelled', message: null })
    assert.isTrue(
      await until(async () => fake.aborted > 0, 5000),
      'the upstream call was abandoned'
    )
    assert.isBelow(textOf([...seen, ...rest]).length, REPLY.length, 'the reply did not run on')
    assert.equal(await count('chat_messages'), 0)
    assert.equal(await count('chat_generations'), 0)
    const completed = await db
      .from('messaging_outbox')
      .where('type', 'chat.message_completed')
      .whereRaw(`payload->>'messageId' = ?`, [response.body().assistantMessage.id])
    assert.lengthOf(completed, 0)
  })

  test('edits and regenerations are siblings; the chosen branch is kept on the server', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    fake.fallback = { kind: 'ok', reply: 'First answer.' }
    const first = await ask(client, token, conversationId, { content: 'Question one' })
    const firstReply = first.accepted.assistantMessage.id

    // Regenerate: another reply to the same question.
    fake.fallback = { kind: 'ok', reply: 'Second answer.' }
    const regenerated = await client
      .post(`/api/v1/chat/conversations/${conversationId}/messages/${firstReply}/regenerate`)
      .bearerToken(token)
      .json({ clientRequestId: requestId() })
    regenerated.assertStatus(202)
    await readGeneration(token, regenerated.body().generation.id)
    assert.equal(regenerated.body().assistantMessage.parentId, first.accepted.userMessage.id)
    assert.equal(regenerated.body().userMessage.id, first.accepted.userMessage.id)

    // Edit: a new version of the question, under the same parent (none).
    fake.fallback = { kind: 'ok', reply: 'Answer to the edit.' }
    const edited = await ask(client, token, conversationId, {
      content: 'Question one, edited',
      parentId: null,
    })
    assert.isNull(edited.accepted.userMessage.parentId)

    const path = await client
      .get(`/api/v1/chat/conversations/${conversationId}/messages`)
      .bearerToken(token)
    const [question, reply] = path.body().data
    assert.equal(question.content, 'Question one, edited')
    assert.deepEqual(question.siblingIds, [
      first.accepted.userMessage.id,
      edited.accepted.userMessage.id,
    ])
    assert.equal(reply.content, 'Answer to the edit.')

    // Choose the first question again: its newest reply (the regenerated one) is shown.
    const chosen = await client
      .put(`/api/v1/chat/conversations/${conversationId}/active-leaf`)
      .bearerToken(token)
      .json({ messageId: first.accepted.userMessage.id })
    chosen.assertStatus(200)
    assert.equal(chosen.body().activeLeafId, regenerated.body().assistantMessage.id)

    // A reload (a fresh read, from any client) shows the chosen branch.
    const reloaded = await client
      .get(`/api/v1/chat/conversations/${conversationId}/messages`)
      .bearerToken(token)
    assert.deepEqual(
      reloaded.body().data.map((message: { content: string }) => message.content),
      ['Question one', 'Second answer.']
    )
    assert.deepEqual(reloaded.body().data[1].siblingIds, [
      firstReply,
      regenerated.body().assistantMessage.id,
    ])

    const tree = await client
      .get(`/api/v1/chat/conversations/${conversationId}/tree`)
      .bearerToken(token)
    assert.lengthOf(tree.body().data, 5)

    // The next question follows the chosen branch, and the model sees only that branch.
    fake.requests.length = 0
    fake.fallback = { kind: 'ok', reply: 'Third answer.' }
    await ask(client, token, conversationId, { content: 'And then?' })
    assert.deepEqual(fake.chatCalls()[0].messages, [
      { role: 'user', content: 'Question one' },
      { role: 'assistant', content: 'Second answer.' },
      { role: 'user', content: 'And then?' },
    ])
  })

  test('a fork holds the ancestor chain only, and its replies see nothing else', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    fake.fallback = { kind: 'ok', reply: 'A1' }
    const one = await ask(client, token, conversationId, { content: 'Q1' })
    fake.fallback = { kind: 'ok', reply: 'A2' }
    await ask(client, token, conversationId, { content: 'Q2 (a later turn)' })
    // A sibling branch under Q1's reply.
    fake.fallback = { kind: 'ok', reply: 'B2' }
    await ask(client, token, conversationId, {
      content: 'Q2 other branch',
      parentId: one.accepted.assistantMessage.id,
    })

    const forked = await client
      .post(`/api/v1/chat/conversations/${conversationId}/fork`)
      .bearerToken(token)
      .json({ fromMessageId: one.accepted.assistantMessage.id })
    forked.assertStatus(201)
    const forkId = forked.body().id
    assert.notEqual(forkId, conversationId)
    const copied = await client.get(`/api/v1/chat/conversations/${forkId}/tree`).bearerToken(token)
    assert.deepEqual(
      copied.body().data.map((message: { content: string }) => message.content),
      ['Q1', 'A1']
    )

    fake.requests.length = 0
    fake.fallback = { kind: 'ok', reply: 'Fork answer' }
    await ask(client, token, forkId, { content: 'In the fork' })
    assert.deepEqual(fake.chatCalls()[0].messages, [
      { role: 'user', content: 'Q1' },
      { role: 'assistant', content: 'A1' },
      { role: 'user', content: 'In the fork' },
    ])
  })

  test('the same clientRequestId twice gives the same ids and one reply', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    const body = { content: 'Once', clientRequestId: requestId() }
    const [a, b] = await Promise.all([
      send(client, token, conversationId, body),
      send(client, token, conversationId, body),
    ])
    a.assertStatus(202)
    b.assertStatus(202)
    assert.deepEqual(a.body().generation.id, b.body().generation.id)
    assert.deepEqual(a.body().userMessage.id, b.body().userMessage.id)
    await readGeneration(token, a.body().generation.id)
    const later = await send(client, token, conversationId, body)
    assert.equal(later.body().generation.id, a.body().generation.id)
    // Each message in its own place: the question as the question, the reply as the reply.
    assert.equal(later.body().userMessage.id, a.body().userMessage.id)
    assert.equal(later.body().assistantMessage.id, a.body().assistantMessage.id)
    assert.equal(later.body().userMessage.role, 'user')
    assert.equal(later.body().assistantMessage.role, 'assistant')
    // A repeat answers with the first send's rows even where the conversation is not found;
    // a new request there is the 404.
    const elsewhere = await send(client, token, '01900000-0000-7000-8000-000000000000', body)
    elsewhere.assertStatus(202)
    assert.equal(elsewhere.body().generation.id, a.body().generation.id)
    assertProblem(
      await send(client, token, '01900000-0000-7000-8000-000000000000', { content: 'New' }),
      404,
      'conversation_not_found'
    )
    assert.equal(await count('chat_generations'), 1)
    assert.equal(await count('chat_messages'), 2)
    const replies = fake.chatCalls().filter((call) => call.stream === true)
    assert.lengthOf(replies, 1)
  })

  test('a user over their messages-per-minute quota gets 429 and nothing is stored or charged', async ({
    client,
    assert,
    cleanup,
  }) => {
    withinOneMinute(cleanup)
    const owner = await chatTenant(client, fake.url)
    const member = await joinAs(client, owner, 'member')
    const setQuota = await client
      .put(`/api/v1/chat/admin/quotas/users/${member.user.user.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ messagesPerMinute: 3 })
    setQuota.assertStatus(200)
    const conversationId = await newConversation(client, member.token)

    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, index) =>
        send(client, member.token, conversationId, { content: `Burst ${index}`, parentId: null })
      )
    )
    const statuses = answers.map((answer) => answer.status()).sort()
    assert.deepEqual(statuses, [202, 202, 202, 429, 429, 429])
    const refused = answers.find((answer) => answer.status() === 429)!
    assertProblem(refused, 429, 'rate_limit_exceeded')
    assert.match(refused.body().detail, /your own quota\): 0 of 3 left/)
    assert.isAbove(Number(refused.header('retry-after')), 0)
    assert.equal(await count('chat_generations'), 3)
    assert.equal(await count('chat_messages'), 6)

    const quota = await client.get('/api/v1/chat/me/quota').bearerToken(member.token)
    assert.deepInclude(quota.body().messagesPerMinute, { limit: 3, used: 3, remaining: 0 })
    // The owner has no quota of their own, so is not limited by the member's.
    const ownerQuota = await client
      .get('/api/v1/chat/me/quota')
      .bearerToken(owner.tokens.accessToken)
    assert.deepInclude(ownerQuota.body().messagesPerMinute, { limit: null, used: 0 })

    // A member may not set quotas.
    const forbidden = await client
      .put('/api/v1/chat/admin/quotas/default')
      .bearerToken(member.token)
      .json({ messagesPerMinute: 1000 })
    assertProblem(forbidden, 403, 'forbidden')
  })

  test('a conversation deleted while its send waits to store: 404, nothing stored or charged', async ({
    client,
    assert,
    cleanup,
  }) => {
    withinOneMinute(cleanup)
    // A quota of their own, so what the send reserved shows until it is given back.
    const { token, conversationId } = await ownerWithQuota(client, { messagesPerMinute: 5 })
    const holder = await db.transaction()
    try {
      await holder.from('chat_conversations').where('id', conversationId).forUpdate().first()
      // Planned and reserved; storing waits for the conversation: a signal, not a sleep.
      const sending = send(client, token, conversationId, { content: 'Too late', parentId: null })
      const pending = sending.then((response) => response)
      const waiting = await waitingForLock('UPDATE chat_conversations')
      assert.isTrue(waiting, 'the send waits to store the conversation')
      await holder.from('chat_conversations').where('id', conversationId).delete()
      await holder.commit()
      const response = await pending
      assertProblem(response, 404, 'conversation_not_found')
    } finally {
      if (!holder.isCompleted) await holder.rollback()
    }
    assert.equal(await count('chat_messages'), 0)
    assert.equal(await count('chat_generations'), 0)
    const left = await client.get('/api/v1/chat/me/quota').bearerToken(token)
    assert.deepInclude(left.body().messagesPerMinute, { limit: 5, used: 0, remaining: 5 })
  })

  test('a send whose store deadlocks gives way, is stored again, and only once', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    const first = await ask(client, token, conversationId, { content: 'Tell me about Lisbon' })
    const parentId = first.accepted.assistantMessage.id
    const holder = await db.transaction()
    let sending: Promise<Awaited<ReturnType<typeof send>>> | undefined
    try {
      // The holder looks for deadlocks last, so the send's store is the one to give way.
      await holder.rawQuery(`SET LOCAL deadlock_timeout = '20s'`)
      // The reply a follow-up hangs from: storing the follow-up waits to reference it.
      await holder.from('chat_messages').where('id', parentId).forUpdate().first()
      // then(): a request builder is sent when awaited, and this one must go now.
      sending = send(client, token, conversationId, { content: 'And Porto?', parentId }).then(
        (response) => response
      )
      const waiting = await waitingForLock('INSERT INTO chat_messages')
      assert.isTrue(waiting, 'the store holds the conversation and waits for the reply')
      // Closes the cycle: returns once PostgreSQL has rolled the store's first attempt back.
      await holder
        .from('chat_conversations')
        .where('id', conversationId)
        .update({ updated_at: holder.raw('now()') })
      await holder.commit()
    } finally {
      if (!holder.isCompleted) await holder.rollback()
    }
    const response = await sending!
    response.assertStatus(202)
    const events = await readGeneration(token, response.body().generation.id)
    assert.equal(events.at(-1)!.data.status, 'completed')
    assert.equal(await count('chat_generations'), 2)
    assert.equal(await count('chat_messages'), 4)
    const followUps = fake
      .chatCalls()
      .filter(
        (call) => (call.messages as Array<{ content: string }>).at(-1)?.content === 'And Porto?'
      )
    assert.lengthOf(followUps, 1, 'the upstream was asked once for the follow-up')
    const path = await client
      .get(`/api/v1/chat/conversations/${conversationId}/messages`)
      .bearerToken(token)
    assert.deepEqual(
      path.body().data.map((message: { id: string }) => message.id),
      [
        first.accepted.userMessage.id,
        parentId,
        response.body().userMessage.id,
        response.body().assistantMessage.id,
      ]
    )
  })

  test('a follow-up reaches the upstream after two round trips to PostgreSQL: plan, store', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    const first = await ask(client, token, conversationId, { content: 'Tell me about Lisbon' })
    // The upstream holds its answer back, so nothing after the call is counted.
    fake.script = [{ kind: 'stall', ms: 2000 }]
    let response: Awaited<ReturnType<typeof send>> | undefined
    const sent = await statementsSentDuring(async () => {
      response = await send(client, token, conversationId, {
        content: 'And Porto?',
        parentId: first.accepted.assistantMessage.id,
      })
    })
    response!.assertStatus(202)
    const chatStatements = sent.filter((text) => /chat_/.test(text))
    assert.lengthOf(chatStatements, 2, chatStatements.join('\n---\n'))
    assert.match(chatStatements[0], /FROM chat_conversations c/)
    // The store is one message: its claim, rows and NOTIFY (pg sees the last statement's text).
    assert.match(chatStatements[1], /pg_notify/)
    assert.notInclude(sent.join('\n'), 'COMMIT')
  })

  test('chat turned off for a user: 403, nothing stored', async ({ client, assert }) => {
    const owner = await chatTenant(client, fake.url)
    const member = await joinAs(client, owner, 'member')
    await client
      .put(`/api/v1/chat/admin/quotas/users/${member.user.user.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ disabled: true })
    const conversationId = await newConversation(client, member.token)
    const refused = await send(client, member.token, conversationId, { content: 'Hello?' })
    assertProblem(refused, 403, 'chat_disabled')
    assert.equal(await count('chat_messages'), 0)

    const stranger = await client
      .put(`/api/v1/chat/admin/quotas/users/${crypto.randomUUID()}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ disabled: true })
    assertProblem(stranger, 404, 'member_not_found')
  })

  test('someone else’s conversation, message or generation is a 404', async ({
    client,
    assert,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const colleague = await joinAs(client, owner, 'admin')
    const outsider = await chatTenant(client, fake.url)
    const conversationId = await newConversation(client, owner.tokens.accessToken)
    const { accepted } = await ask(client, owner.tokens.accessToken, conversationId, {
      content: 'Mine',
    })

    for (const token of [colleague.token, outsider.tokens.accessToken]) {
      assertProblem(
        await send(client, token, conversationId, { content: 'Intrude' }),
        404,
        'conversation_not_found'
      )
      assertProblem(
        await client
          .get(`/api/v1/chat/conversations/${conversationId}/messages`)
          .bearerToken(token),
        404,
        'conversation_not_found'
      )
      assertProblem(
        await client
          .get(`/api/v1/chat/generations/${accepted.generation.id}/stream`)
          .bearerToken(token),
        404,
        'generation_not_found'
      )
      assertProblem(
        await client
          .post(`/api/v1/chat/generations/${accepted.generation.id}/cancel`)
          .bearerToken(token),
        404,
        'generation_not_found'
      )
    }
    // Once its log is gone (past the replay window, or never in this process), the
    // database decides: still a 404 for them, the whole reply for its owner.
    if (redisConfigured()) {
      const id = accepted.generation.id
      await redis.connection().ioConnection.del(`chat:gen:${id}`, `chat:gen:${id}:owner`)
      assert.isNull(await generationLog().ownerOf(id))
      for (const token of [colleague.token, outsider.tokens.accessToken]) {
        assertProblem(
          await client.get(`/api/v1/chat/generations/${id}/stream`).bearerToken(token),
          404,
          'generation_not_found'
        )
      }
      const whole = await readGeneration(owner.tokens.accessToken, id)
      assert.equal(whole.at(-1)!.event, 'done')
      assert.equal(whole.at(-1)!.data.message.content, 'Hello from the fake upstream.')
    } else {
      console.log('  (log gone → database: not run, REDIS_URL is not set; the log is in memory)')
    }

    // A message of another conversation cannot be a parent, a leaf or a fork point here.
    const other = await newConversation(client, owner.tokens.accessToken)
    assertProblem(
      await send(client, owner.tokens.accessToken, other, {
        content: 'Cross',
        parentId: accepted.assistantMessage.id,
      }),
      404,
      'message_not_found'
    )
    assertProblem(
      await client
        .put(`/api/v1/chat/conversations/${other}/active-leaf`)
        .bearerToken(owner.tokens.accessToken)
        .json({ messageId: accepted.assistantMessage.id }),
      404,
      'message_not_found'
    )
    assert.equal(await count('chat_messages'), 2)
  })

  test('bad input is a problem and stores nothing', async ({ client, assert }) => {
    const { token, conversationId } = await ownerInConversation(client)
    for (const body of [
      { content: '', clientRequestId: 'a' },
      { content: 'x'.repeat(32_001), clientRequestId: 'b' },
      { content: 'Hi' },
      { content: 'Hi', clientRequestId: 'has spaces' },
      { content: 'Hi', clientRequestId: 'c', parentId: 'not-a-uuid' },
    ]) {
      const response = await client
        .post(`/api/v1/chat/conversations/${conversationId}/messages`)
        .bearerToken(token)
        .json(body)
      assertProblem(response, 422, 'validation_failed')
    }
    const { accepted } = await ask(client, token, conversationId, { content: 'Q' })
    // A question must follow a reply, not another question.
    assertProblem(
      await send(client, token, conversationId, {
        content: 'Q',
        parentId: accepted.userMessage.id,
      }),
      422,
      'parent_not_a_reply'
    )
    assertProblem(
      await client
        .post(
          `/api/v1/chat/conversations/${conversationId}/messages/${accepted.userMessage.id}/regenerate`
        )
        .bearerToken(token)
        .json({ clientRequestId: requestId() }),
      422,
      'not_a_reply'
    )
    assert.equal(await count('chat_messages'), 2)
  })

  test('without a model for chat: 503 saying what to configure; an unknown model: 404', async ({
    client,
    assert,
  }) => {
    const lonely = await registerUser(client)
    const conversationId = await newConversation(client, lonely.tokens.accessToken)
    const response = await send(client, lonely.tokens.accessToken, conversationId, {
      content: 'Hi',
    })
    assertProblem(response, 503, 'chat_not_configured')
    assert.match(response.body().detail, /POST \/api\/v1\/gateway\/providers/)

    const owner = await chatTenant(client, fake.url)
    const other = await newConversation(client, owner.tokens.accessToken)
    assertProblem(
      await send(client, owner.tokens.accessToken, other, {
        content: 'Hi',
        model: 'no-such-alias',
      }),
      404,
      'model_not_found'
    )
    assert.equal(await count('chat_messages'), 0)
  })

  test('a NUL character written by the model is dropped, not a failed save', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    fake.script = [{ kind: 'ok', reply: 'Null\u0000 bytes\u0000 here' }]
    const { accepted, events } = await ask(client, token, conversationId, { content: 'Hi' })
    assert.equal(events.at(-1)!.data.status, 'completed')
    assert.equal(textOf(events), 'Null bytes here')
    const stored = await db.from('chat_messages').where('id', accepted.assistantMessage.id).first()
    assert.include(stored, { content: 'Null bytes here', status: 'complete' })
  })

  test('the upstream failing becomes an error event and a failed reply', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    fake.script = [{ kind: 'status', status: 500 }]
    const { accepted, events } = await ask(client, token, conversationId, { content: 'Fail' })
    const error = events.find((event) => event.event === 'error')
    assert.exists(error)
    assert.equal(events.at(-1)!.data.status, 'failed')
    const stored = await db.from('chat_messages').where('id', accepted.assistantMessage.id).first()
    assert.equal(stored.status, 'failed')
    assert.notInclude(JSON.stringify(events), 'fake failure')
  })

  test('a reply whose upstream fails is accounted once: the message counts, its tokens do not', async ({
    client,
    assert,
    cleanup,
  }) => {
    withinOneMinute(cleanup)
    const { token, conversationId } = await ownerWithQuota(client, {
      messagesPerMinute: 5,
      tokensPerDay: 100_000,
    })
    const before = await client.get('/api/v1/chat/me/quota').bearerToken(token)
    assert.deepInclude(before.body().tokensPerDay, { used: 0 })

    // The gateway settles a call that failed to open to nothing used; the runner gave the
    // same reservation back again on top, so every failed reply refunded its reserve twice.
    fake.script = [{ kind: 'status', status: 500 }]
    const { events } = await ask(client, token, conversationId, { content: 'Fail' })
    assert.equal(events.at(-1)!.data.status, 'failed')

    const after = await client.get('/api/v1/chat/me/quota').bearerToken(token)
    after.assertStatus(200)
    assert.deepInclude(after.body().messagesPerMinute, { limit: 5, used: 1, remaining: 4 })
    assert.deepInclude(after.body().tokensPerDay, { limit: 100_000, used: 0 })
  })

  test('the change feed’s “may have missed something” (*) claims nothing and fails nothing', async ({
    assert,
  }) => {
    // The feed says '*' to every listener when it closes or loses its connection; the queue's
    // listener passed it on as an id, so each shutdown sent PostgreSQL a claim that failed.
    assert.isFalse(await generationRunner.start('*'))
    assert.isFalse(await generationRunner.start('not-a-generation'))
  })

  test('only the first reply of an untitled conversation writes its title', async ({
    client,
    assert,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const token = owner.tokens.accessToken
    const titleCalls = () =>
      fake
        .chatCalls()
        .filter((call) =>
          String((call.messages as Array<{ content: string }>)[0]?.content).startsWith(
            'Write a title'
          )
        )
    const titleOf = async (conversationId: string) => {
      const response = await client
        .get(`/api/v1/chat/conversations/${conversationId}`)
        .bearerToken(token)
      return response.body().title as string
    }
    const named = (events: Array<{ event: string }>) => events.map((event) => event.event)

    // The first reply: titled from the question and the reply.
    const untitled = await newConversation(client, token)
    fake.fallback = { kind: 'ok', reply: 'Porto by train.' }
    const first = await ask(client, token, untitled, { content: 'Plan a trip to Porto' })
    assert.include(named(first.events), 'title')
    assert.lengthOf(titleCalls(), 1)
    const asked = (titleCalls()[0].messages as Array<{ content: string }>)[1].content
    assert.include(asked, 'Plan a trip to Porto')
    assert.include(asked, 'Porto by train.')
    assert.equal(await titleOf(untitled), 'Porto by train')

    // A later reply in the same conversation: no title asked for.
    fake.requests.length = 0
    const second = await ask(client, token, untitled, { content: 'And back?' })
    assert.notInclude(named(second.events), 'title')
    assert.lengthOf(titleCalls(), 0)

    // A conversation named by its user keeps its name.
    const created = await client
      .post('/api/v1/chat/conversations')
      .bearerToken(token)
      .json({ title: 'My own name' })
    const own = await ask(client, token, created.body().id, { content: 'Hello' })
    assert.notInclude(named(own.events), 'title')
    assert.lengthOf(titleCalls(), 0)
    assert.equal(await titleOf(created.body().id), 'My own name')

    // A failed first reply writes none; regenerating it does.
    const retried = await newConversation(client, token)
    fake.script = [{ kind: 'status', status: 500 }]
    const failed = await ask(client, token, retried, { content: 'Plan a trip to Braga' })
    assert.equal(failed.events.at(-1)!.data.status, 'failed')
    assert.lengthOf(titleCalls(), 0)
    assert.equal(await titleOf(retried), 'New conversation')
    const again = await client
      .post(
        `/api/v1/chat/conversations/${retried}/messages/${failed.accepted.assistantMessage.id}/regenerate`
      )
      .bearerToken(token)
      .json({ clientRequestId: requestId() })
    again.assertStatus(202)
    const regenerated = await readGeneration(token, again.body().generation.id)
    assert.include(named(regenerated), 'title')
    assert.lengthOf(titleCalls(), 1)
    assert.include(
      (titleCalls()[0].messages as Array<{ content: string }>)[1].content,
      'Plan a trip to Braga'
    )
    assert.equal(await titleOf(retried), 'Porto by train')
  })

  test('storing a title while a repeated send inserts its generation: a duplicate, not a deadlock', async ({
    client,
    assert,
  }) => {
    const { token, conversationId } = await ownerInConversation(client)
    const { accepted } = await ask(client, token, conversationId, { content: 'Hello' })
    const id = accepted.generation.id as string
    const first = await db.from('chat_generations').where('id', id).firstOrFail()
    await db
      .from('chat_conversations')
      .where('id', conversationId)
      .update({ title: 'New conversation' })
    const generation = await tenancy.run(first.tenant_id, (trx) =>
      Generation.query({ client: trx }).where('id', id).firstOrFail()
    )

    // A send that repeats the clientRequestId and missed the first one while planning:
    // it holds the conversation (as every send does first) and then inserts its generation.
    let storing: Promise<string | null> | undefined
    const repeated = await tenancy
      .run(first.tenant_id, async (trx) => {
        await trx
          .from('chat_conversations')
          .where('id', conversationId)
          .update({ updated_at: trx.raw('now()') })
        storing = storeTitle(generation, 'Lisbon', [
          {
            text: `UPDATE chat_generations SET status = 'completed' WHERE id = $1`,
            values: [id],
          },
        ])
        // The title's unit of work is waiting for the conversation: a signal, not a sleep.
        const waiting = await waitingForLock('')
        assert.isTrue(waiting, 'the title waits for the conversation')
        await trx.table('chat_generations').insert({ ...first, id: newId() })
        return 'inserted'
      })
      .catch((error: { code?: string }) => error.code)

    assert.equal(
      repeated,
      '23505',
      'a unique violation, which the send answers with the first rows'
    )
    assert.equal(await storing, 'Lisbon')
    const conversation = await db.from('chat_conversations').where('id', conversationId).first()
    assert.equal(conversation.title, 'Lisbon')
  })

  test('a completed reply is a chat.message_completed webhook with usage and no text', async ({
    client,
    assert,
    cleanup,
  }) => {
    const bodies: string[] = []
    const receiver = createServer(async (request, response) => {
      let body = ''
      for await (const chunk of request) body += chunk
      bodies.push(body)
      response.writeHead(200).end()
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    cleanup(() => new Promise<void>((resolve) => receiver.close(() => resolve())))
    const owner = await chatTenant(client, fake.url)
    const token = owner.tokens.accessToken
    const hook = await client
      .post('/api/v1/webhooks')
      .bearerToken(token)
      .json({
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        eventTypes: ['chat.message_completed'],
      })
    hook.assertStatus(201)
    const conversationId = await newConversation(client, token)
    const { accepted } = await ask(client, token, conversationId, { content: 'A private question' })
    await drainBus()
    await deliverDueWebhooks()
    assert.lengthOf(bodies, 1)
    const delivered = JSON.parse(bodies[0])
    assert.equal(delivered.type, 'chat.message_completed')
    assert.deepInclude(delivered.data, {
      messageId: accepted.assistantMessage.id,
      conversationId,
      userId: owner.user.id,
      model: 'chat-default',
    })
    assert.notInclude(bodies[0], 'private question')
    assert.notInclude(bodies[0], 'Hello from the fake upstream')
  })

  test('thirty sends at once from six members are all accepted and answered', async ({
    client,
    assert,
  }) => {
    // Thirty at once against a pool of ten connections (the test setting), each in its own
    // conversation, on a tenant whose routing is not cached yet. (The pool starvation that
    // bench:chat found needed more load than this to show; the bench is where it is watched.)
    // Six members, five conversations each (the test cap per user).
    const owner = await chatTenant(client, fake.url)
    const members = await Promise.all(
      Array.from({ length: 6 }, () => joinAs(client, owner, 'member'))
    )
    const perMember = await Promise.all(
      members.map(async (member) =>
        Promise.all(
          Array.from({ length: 5 }, async () => ({
            token: member.token,
            conversationId: await newConversation(client, member.token),
          }))
        )
      )
    )
    const targets = perMember.flat()
    const answers = await Promise.all(
      targets.map((target) => send(client, target.token, target.conversationId, { content: 'Hi' }))
    )
    assert.deepEqual(
      answers.map((answer) => answer.status()),
      Array(30).fill(202)
    )
    await Promise.all(
      answers.map((answer, index) =>
        readGeneration(targets[index].token, answer.body().generation.id)
      )
    )
    assert.equal(await count('chat_generations'), 30)
  })
})
