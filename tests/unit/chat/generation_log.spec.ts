import { test } from '@japa/runner'
import {
  follow,
  memoryLogStore,
  ownerKey,
  ownsByLog,
  type GenerationEvent,
} from '#modules/chat/services/generation_log'
import { buildPrompt } from '#modules/chat/services/generations'
import { chatConfig } from '#modules/chat/config'
import { AsyncLocalStorage } from 'node:async_hooks'
import { settleGarbage } from '#tests/helpers/garbage'

const delta = (seq: number, text: string): GenerationEvent => ({
  seq,
  event: 'delta',
  data: { text },
})
const done = (seq: number): GenerationEvent => ({
  seq,
  event: 'done',
  data: { status: 'completed' },
})

async function drain(iterator: AsyncGenerator<GenerationEvent | null>, limit = 100) {
  const seen: Array<GenerationEvent | null> = []
  for await (const event of iterator) {
    seen.push(event)
    if (seen.length >= limit) break
  }
  return seen
}

test.group('chat generation log (this process’s memory, as without Redis)', () => {
  test('a follower gets the past after Last-Event-ID, then live events, each once, until done', async ({
    assert,
  }) => {
    const store = memoryLogStore()
    await store.append('g1', [delta(1, 'a'), delta(2, 'b'), delta(3, 'c')])
    const controller = new AbortController()
    const reading = drain(follow(store, 'g1', 1, controller.signal, 50))
    await store.append('g1', [delta(4, 'd')])
    await store.append('g1', [done(5)], { finished: true })
    const seen = await reading
    assert.deepEqual(
      seen.map((event) => event?.seq),
      [2, 3, 4, 5]
    )
  })

  test('the owner recorded with the log is never an event, and is unknown without a log', async ({
    assert,
  }) => {
    const store = memoryLogStore()
    const owner = ownerKey({ tenantId: 't1', userId: 'u1' })
    assert.isNull(await store.ownerOf('g2'))
    await store.append('g2', [delta(1, 'a')], { owner })
    await store.append('g2', [done(2)], { finished: true, owner })
    assert.equal(await store.ownerOf('g2'), 't1:u1')
    assert.isNull(await store.ownerOf('g9'))
    assert.deepEqual(
      (await store.read('g2', 0))!.map((event) => event.event),
      ['delta', 'done']
    )
    assert.notEqual(
      ownerKey({ tenantId: 't2', userId: 'u1' }),
      owner,
      'another tenant, same user id'
    )
  })

  test('ownership by the log: the owner, someone else, or no answer (no log, or Redis away)', async ({
    assert,
  }) => {
    const store = memoryLogStore()
    const owner = { tenantId: 't1', userId: 'u1' }
    await store.append('g4', [delta(1, 'a')], { owner: ownerKey(owner) })
    assert.isTrue(await ownsByLog(store, 'g4', owner))
    assert.isFalse(await ownsByLog(store, 'g4', { tenantId: 't1', userId: 'u2' }))
    assert.isFalse(await ownsByLog(store, 'g4', { tenantId: 't2', userId: 'u1' }))
    assert.isNull(await ownsByLog(store, 'g5', owner))
    const unreachable = { ownerOf: () => Promise.reject(new Error('Connection is closed.')) }
    assert.isNull(await ownsByLog(unreachable, 'g4', owner))
  })

  test('an unknown log yields null when idle, and aborting ends the follow', async ({ assert }) => {
    const store = memoryLogStore()
    const controller = new AbortController()
    const iterator = follow(store, 'nobody', 0, controller.signal, 10)
    const first = await iterator.next()
    assert.isNull(first.value)
    controller.abort()
    const next = await iterator.next()
    assert.isTrue(next.done)
    assert.equal(store.size(), 0, 'a follower leaves nothing behind')
  })
})

test.group('chat generation log: a missed live event', () => {
  test('is caught up from the log after a quiet spell, so the follow still ends', async ({
    assert,
  }) => {
    const store = memoryLogStore()
    // A store whose live channel loses everything (a subscriber that reconnected).
    const deaf = { ...store, listen: async () => () => {} }
    const controller = new AbortController()
    const reading = drain(follow(deaf, 'g3', 0, controller.signal, 20))
    await store.append('g3', [delta(1, 'a')])
    await store.append('g3', [done(2)], { finished: true })
    const seen = await reading
    assert.deepEqual(
      seen.filter((event) => event !== null).map((event) => event!.seq),
      [1, 2]
    )
  })
})

test.group('chat context trimming', () => {
  test('keeps the newest messages within the budget, the question always', ({ assert }) => {
    const long = 'x'.repeat(chatConfig.contextTokens * 8)
    const chain = [
      { role: 'user' as const, content: 'old question', status: 'complete' as const },
      { role: 'assistant' as const, content: long, status: 'complete' as const },
      { role: 'user' as const, content: 'recent question', status: 'complete' as const },
      { role: 'assistant' as const, content: 'recent answer', status: 'complete' as const },
      { role: 'assistant' as const, content: '', status: 'failed' as const },
      { role: 'user' as const, content: 'now', status: 'complete' as const },
    ]
    assert.deepEqual(buildPrompt(chain), [
      { role: 'user', content: 'recent question' },
      { role: 'assistant', content: 'recent answer' },
      { role: 'user', content: 'now' },
    ])
    // The question alone over budget is still sent whole (the model decides).
    assert.deepEqual(buildPrompt([{ role: 'user', content: long, status: 'complete' }]), [
      { role: 'user', content: long },
    ])
  })
})

test.group('generation log in memory: what a finished log keeps', () => {
  test('finishing a log inside a request does not keep the request for the replay window', async ({
    assert,
  }) => {
    const requestContext = new AsyncLocalStorage<object>()
    const store = memoryLogStore()
    const requests: Array<WeakRef<object>> = []
    await requestContext.run({ body: 'x'.repeat(10_000) }, async () => {
      requests.push(new WeakRef(requestContext.getStore()!))
      await store.append('generation-1', [done(1)], { finished: true })
    })
    // The log is kept for replay (its timer runs for chatConfig.replaySeconds)...
    assert.deepEqual(await store.read('generation-1', 0), [done(1)])
    await settleGarbage()
    // ...but the request that finished it is not.
    assert.isUndefined(requests[0].deref())
  })
})
