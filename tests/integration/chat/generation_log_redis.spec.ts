import { test } from '@japa/runner'
import redis from '@adonisjs/redis/services/main'
import { redisConfigured } from '#config/redis'
import { chatConfig } from '#modules/chat/config'
import {
  follow,
  ownerKey,
  redisLogStore,
  type GenerationEvent,
} from '#modules/chat/services/generation_log'
import { newId } from '#app/platform/ids'

/*
| The generation log on Redis, as every process writing replies uses it: the
| appends made in one turn of the event loop leave as one pipeline, and each
| still lands whole, in order, with its owner and expiry — or fails alone.
*/

const delta = (seq: number, text: string): GenerationEvent => ({
  seq,
  event: 'delta',
  data: { text },
})
const done = (seq: number): GenerationEvent => ({ seq, event: 'done', data: {} })
const owner = ownerKey({ tenantId: 't1', userId: 'u1' })
const connection = () => redis.connection().ioConnection

/** Counts the pipelines the log opens on the shared connection while `work` runs. */
async function pipelinesDuring(work: () => Promise<unknown>) {
  const client = connection()
  const original = client.pipeline
  let opened = 0
  client.pipeline = function (this: typeof client, ...args: Parameters<typeof original>) {
    opened++
    return original.apply(this, args)
  } as typeof original
  try {
    await work()
  } finally {
    client.pipeline = original
  }
  return opened
}

test.group('chat generation log on Redis', (group) => {
  const store = redisLogStore()
  group.each.setup(() => {
    if (!redisConfigured()) return
    return () => store.close()
  })

  test('fifty replies appending in one turn: one pipeline, every log whole and in order', async ({
    assert,
  }) => {
    const ids = Array.from({ length: 50 }, () => newId())
    const opened = await pipelinesDuring(() =>
      Promise.all(ids.map((id) => store.append(id, [delta(1, 'a'), delta(2, 'b')], { owner })))
    )
    assert.equal(opened, 1)
    await Promise.all(ids.map((id) => store.append(id, [delta(3, 'c')])))
    await Promise.all(ids.map((id) => store.append(id, [done(4)], { finished: true })))
    for (const id of ids) {
      assert.deepEqual(
        (await store.read(id, 0))!.map((event) => event.seq),
        [1, 2, 3, 4]
      )
      assert.equal(await store.ownerOf(id), owner)
    }
  }).skip(!redisConfigured(), 'REDIS_URL is not set: this is the Redis store')

  test('a follower hears an append’s events once each, in order, until done', async ({
    assert,
  }) => {
    const id = newId()
    await store.append(id, [delta(1, 'a')], { owner })
    const controller = new AbortController()
    const seen: number[] = []
    const reading = (async () => {
      for await (const event of follow(store, id, 0, controller.signal, 5000))
        if (event) seen.push(event.seq)
    })()
    // Live events come on the channel, several in one append.
    await store.append(id, [delta(2, 'b'), delta(3, 'c'), delta(4, 'd')])
    await store.append(id, [delta(5, 'e')])
    await store.append(id, [done(6)], { finished: true })
    await reading
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6])
  }).skip(!redisConfigured(), 'REDIS_URL is not set: this is the Redis store')

  test('a running log keeps an hour with its owner; the last append shortens both to the replay window', async ({
    assert,
  }) => {
    const id = newId()
    await store.append(id, [delta(1, 'a')], { owner })
    await store.append(id, [delta(2, 'b')])
    for (const key of [`chat:gen:${id}`, `chat:gen:${id}:owner`]) {
      const ttl = await connection().ttl(key)
      assert.isAbove(ttl, chatConfig.replaySeconds, key)
      assert.isAtMost(ttl, 3600, key)
    }
    await store.append(id, [done(3)], { finished: true })
    for (const key of [`chat:gen:${id}`, `chat:gen:${id}:owner`]) {
      const ttl = await connection().ttl(key)
      assert.isAbove(ttl, 0, key)
      assert.isAtMost(ttl, chatConfig.replaySeconds, key)
    }
  }).skip(!redisConfigured(), 'REDIS_URL is not set: this is the Redis store')

  test('an append Redis refuses fails alone; the others in its pipeline land', async ({
    assert,
  }) => {
    const broken = newId()
    const fine = newId()
    // Not a list: RPUSH answers WRONGTYPE.
    await connection().set(`chat:gen:${broken}`, 'not a list', 'EX', 60)
    const [failed, landed] = await Promise.allSettled([
      store.append(broken, [delta(1, 'a')], { owner }),
      store.append(fine, [delta(1, 'a')], { owner }),
    ])
    assert.equal(failed.status, 'rejected')
    assert.match(String((failed as PromiseRejectedResult).reason), /WRONGTYPE/)
    assert.equal(landed.status, 'fulfilled')
    assert.deepEqual(
      (await store.read(fine, 0))!.map((event) => event.seq),
      [1]
    )
  }).skip(!redisConfigured(), 'REDIS_URL is not set: this is the Redis store')
})
