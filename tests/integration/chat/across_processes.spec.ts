import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import { startServerProcess, stopServerProcesses as stop } from '#tests/helpers/processes'
import { joinAs, resetIdentity } from '#tests/helpers/identity'
import { resetGateway } from '#tests/helpers/gateway'
import { resetModuleTables } from '#tests/helpers/database'
import { chatTenant, readGeneration, textOf } from '#tests/helpers/chat'
import { until } from '#tests/helpers/waiting'
import { startOpenAiFake, type FakeUpstream } from '#tests/fakes/llm_upstreams'
import { scopeCounter } from '#tests/helpers/quotas'
import { generationLog } from '#modules/chat/services/generation_log'
import { generationRunner } from '#modules/chat/services/runner'

/*
| Chat with more than one Atrium process sharing PostgreSQL and Redis: a
| web-only process accepts the question and a worker process writes the
| reply; its stream is read from either, and resumed on the other.
*/

const REPLY =
  'Porto climbs from the Douro in tiles and granite, and the bridges stitch its two banks together at dusk.'

const startServer = (port: number, role: 'web' | 'all', overrides: Record<string, string> = {}) =>
  startServerProcess(port, { ATRIUM_ROLE: role, ...overrides })

let counter = 0
async function send(base: string, token: string, conversationId: string, content: string) {
  const response = await fetch(`${base}/api/v1/chat/conversations/${conversationId}/messages`, {
    method: 'POST',
    headers: { 'authorization': `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      content,
      parentId: null,
      clientRequestId: `x-${process.pid}-${++counter}`,
    }),
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

async function conversation(base: string, token: string) {
  const response = await fetch(`${base}/api/v1/chat/conversations`, {
    method: 'POST',
    headers: { 'authorization': `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  })
  return ((await response.json()) as { id: string }).id
}

test.group('chat across processes', (group) => {
  let fake: FakeUpstream
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
    await resetModuleTables('chat')
    fake = await startOpenAiFake()
    return () => fake.close()
  })
  group.each.timeout(180_000)

  test('accepted by a web process, written by a worker, resumed on the other process', async ({
    client,
    assert,
    cleanup,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const token = owner.tokens.accessToken
    const [web, worker] = await Promise.all([startServer(3396, 'web'), startServer(3397, 'all')])
    cleanup(() => [web, worker].forEach((server) => server.child.kill('SIGKILL')))
    fake.script = [{ kind: 'ok', reply: REPLY, chunkDelayMs: 25 }]

    const conversationId = await conversation(web.url, token)
    const accepted = await send(web.url, token, conversationId, 'Tell me about Porto')
    assert.equal(accepted.status, 202)
    const generationId = accepted.body.generation.id

    const first = await readGeneration(token, generationId, {
      base: web.url,
      stopWhen: (events) => events.filter((event) => event.event === 'delta').length >= 3,
    })
    assert.notInclude(
      first.map((event) => event.event),
      'done'
    )
    const rest = await readGeneration(token, generationId, {
      base: worker.url,
      lastEventId: first.at(-1)!.id,
    })
    const all = [...first, ...rest]
    assert.equal(textOf(all), REPLY)
    const ids = all.map((event) => Number(event.id))
    assert.deepEqual(
      ids,
      [...new Set(ids)].sort((a, b) => a - b),
      'each event once, in order'
    )
    assert.equal(all.at(-1)!.data.status, 'completed')
    const stored = await db
      .from('chat_messages')
      .where('id', accepted.body.assistantMessage.id)
      .first()
    assert.include(stored, { content: REPLY, status: 'complete' })

    // A cancel sent to the web process stops the reply the worker writes.
    fake.script = [{ kind: 'ok', reply: REPLY, chunkDelayMs: 60 }]
    const second = await send(web.url, token, conversationId, 'And Braga?')
    const seen = await readGeneration(token, second.body.generation.id, {
      base: worker.url,
      stopWhen: (events) => events.some((event) => event.event === 'delta'),
    })
    const cancel = await fetch(
      `${web.url}/api/v1/chat/generations/${second.body.generation.id}/cancel`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      }
    )
    assert.equal(cancel.status, 202)
    const after = await readGeneration(token, second.body.generation.id, {
      base: web.url,
      lastEventId: seen.at(-1)!.id,
    })
    assert.equal(after.at(-1)!.data.status, 'cancelled')
    assert.isBelow(textOf([...seen, ...after]).length, REPLY.length)
    await stop([web, worker])
  }).skip(
    !env.get('REDIS_URL'),
    'REDIS_URL is not set: the stream log across processes lives in Redis'
  )

  test('20 sends at once over two processes against 10 messages a minute → exactly 10 replies', async ({
    client,
    assert,
    cleanup,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const member = await joinAs(client, owner, 'member')
    const quota = await client
      .put(`/api/v1/chat/admin/quotas/users/${member.user.user.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ messagesPerMinute: 10 })
    quota.assertStatus(200)
    // Slow replies: every reservation of the burst is made while the first replies still run.
    fake.fallback = { kind: 'ok', chunkDelayMs: 20 }
    const servers = await Promise.all([startServer(3396, 'all'), startServer(3397, 'all')])
    cleanup(() => servers.forEach((server) => server.child.kill('SIGKILL')))
    const conversationId = await conversation(servers[0].url, member.token)

    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        send(servers[index % 2].url, member.token, conversationId, `Question ${index}`)
      )
    )
    const statuses = answers.map((answer) => answer.status).sort()
    assert.deepEqual(statuses, [...Array(10).fill(202), ...Array(10).fill(429)])
    const accepted = answers.filter((answer) => answer.status === 202)
    await Promise.all(
      accepted.map((answer) =>
        readGeneration(member.token, answer.body.generation.id, { base: servers[0].url })
      )
    )
    await until(async () => {
      const [{ total }] = await db
        .from('chat_generations')
        .where('status', 'completed')
        .count('* as total')
      return Number(total) === 10
    }, 20_000)
    const [{ total }] = await db.from('chat_generations').count('* as total')
    assert.equal(Number(total), 10, 'refused sends stored nothing')
    assert.lengthOf(
      fake.chatCalls().filter((call) => call.stream === true),
      10,
      'refused sends never reached the model'
    )
    await stop(servers)
  }).skip(
    !env.get('REDIS_URL'),
    'REDIS_URL is not set: quotas across processes are counted in Redis'
  )

  test('a process killed mid-reply: another marks it failed, keeps the text and ends its stream', async ({
    client,
    assert,
    cleanup,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const token = owner.tokens.accessToken
    const limits = await client
      .put(`/api/v1/chat/admin/quotas/users/${owner.user.id}`)
      .bearerToken(token)
      .json({ messagesPerMinute: 100, tokensPerDay: 1_000_000 })
    limits.assertStatus(200)
    const userScope = `${owner.activeTenantId}:${owner.user.id}`
    const shortLease = { CHAT_GENERATION_LEASE_SECONDS: '2', CHAT_SAVE_EVERY_MS: '500' }
    const doomed = await startServer(3396, 'all', shortLease)
    cleanup(() => {
      doomed.child.kill('SIGKILL')
    })
    fake.script = [{ kind: 'ok', reply: REPLY, chunkDelayMs: 150 }]
    const conversationId = await conversation(doomed.url, token)
    const accepted = await send(doomed.url, token, conversationId, 'Tell me about Porto')
    const generationId = accepted.body.generation.id
    // Past the first save of the partial text (every 500 ms here), then the process dies.
    const seen = await readGeneration(token, generationId, {
      base: doomed.url,
      stopWhen: (events) => events.filter((event) => event.event === 'delta').length >= 9,
    })
    doomed.child.kill('SIGKILL')
    await doomed.done.catch(() => null)

    const survivor = await startServer(3397, 'all', shortLease)
    cleanup(() => {
      survivor.child.kill('SIGKILL')
    })
    const rest = await readGeneration(token, generationId, {
      base: survivor.url,
      lastEventId: seen.at(-1)!.id,
    })
    assert.deepEqual(
      rest.map((event) => event.event),
      ['error', 'done']
    )
    assert.equal(rest[0].data.code, 'interrupted')
    assert.equal(rest[1].data.status, 'failed')
    const stored = await db
      .from('chat_messages')
      .where('id', accepted.body.assistantMessage.id)
      .first()
    assert.equal(stored.status, 'failed')
    assert.isAbove(stored.content.length, 0, 'the text saved before the crash is kept')
    assert.isTrue(REPLY.startsWith(stored.content))
    // Written once: the survivor did not start the reply again.
    assert.lengthOf(
      fake.chatCalls().filter((call) => call.stream === true),
      1
    )
    // The reservation stays charged: the upstream was mid-reply (a provider bills those
    // tokens), and a reply whose end the gateway had settled must not be refunded twice.
    assert.equal(await scopeCounter('user', userScope, 'requests'), 1, 'the message counts')
    assert.isAbove(await scopeCounter('user', userScope, 'tokensPerDay'), 0)
    await stop([survivor])
  }).skip(
    !env.get('REDIS_URL'),
    'REDIS_URL is not set: the stream log across processes lives in Redis'
  )

  test('a runner stalled past its lease: another process takes the reply, and the runner, resumed, writes nothing more', async ({
    client,
    assert,
    cleanup,
  }) => {
    const owner = await chatTenant(client, fake.url)
    const token = owner.tokens.accessToken
    const shortLease = { CHAT_GENERATION_LEASE_SECONDS: '2', CHAT_SAVE_EVERY_MS: '300' }
    const stalled = await startServer(3398, 'all', shortLease)
    cleanup(() => {
      stalled.child.kill('SIGKILL')
    })
    // Long enough that the upstream is still writing when the runner wakes up again.
    fake.script = [{ kind: 'ok', reply: `${REPLY} `.repeat(6).trim(), chunkDelayMs: 150 }]
    const conversationId = await conversation(stalled.url, token)
    const accepted = await send(stalled.url, token, conversationId, 'Tell me about Porto')
    const generationId = accepted.body.generation.id
    await readGeneration(token, generationId, {
      base: stalled.url,
      stopWhen: (events) => events.filter((event) => event.event === 'delta').length >= 5,
    })

    // Its event loop stops (SIGSTOP) past the lease: to everyone else it looks dead.
    stalled.child.kill('SIGSTOP')
    cleanup(() => {
      stalled.child.kill('SIGCONT')
    })
    const lapsed = await until(async () => {
      const [row] = await db
        .from('chat_generations')
        .where('id', generationId)
        .whereRaw(`due_at < now() - interval '5 seconds'`)
      return row !== undefined
    })
    assert.isTrue(lapsed, 'the lease lapsed')
    // This process sweeps, as any other worker would.
    assert.equal(await generationRunner.pass(), 1)

    stalled.child.kill('SIGCONT')
    // Its next renewal finds the reply taken: it abandons its upstream call instead of
    // reading the reply to its end.
    assert.isTrue(await until(async () => fake.aborted === 1, 10_000))
    // Stopped gracefully: whatever the runner still meant to write is written by then.
    await stop([stalled])

    const log = (await generationLog().read(generationId, 0)) ?? []
    const numbers = log.map((event) => event.seq)
    assert.deepEqual(
      numbers,
      numbers.map((_, index) => index + 1),
      'numbered once each, in order'
    )
    assert.deepEqual(
      log.slice(-2).map((event) => event.event),
      ['error', 'done']
    )
    assert.lengthOf(
      log.filter((event) => event.event === 'done'),
      1
    )
    assert.equal(log.at(-1)!.data.status, 'failed')
    const stored = await db
      .from('chat_messages')
      .where('id', accepted.body.assistantMessage.id)
      .first()
    assert.include(stored, { status: 'failed', error_code: 'interrupted' })
    assert.isTrue(`${REPLY} `.repeat(6).startsWith(stored.content))
    assert.isTrue(
      textOf(log.map((event) => ({ ...event, id: String(event.seq) }))).startsWith(stored.content),
      'what was kept was streamed'
    )
    assert.equal((log.at(-1)!.data.message as { content: string }).content, stored.content)
    const generation = await db.from('chat_generations').where('id', generationId).first()
    assert.include(generation, { status: 'failed', error_code: 'interrupted' })
    const completed = await db
      .from('messaging_outbox')
      .where('type', 'chat.message_completed')
      .whereRaw(`payload->>'messageId' = ?`, [accepted.body.assistantMessage.id])
    assert.lengthOf(completed, 0)
  }).skip(
    !env.get('REDIS_URL'),
    'REDIS_URL is not set: the stream log across processes lives in Redis'
  )
})
