import { test } from '@japa/runner'
import env from '#start/env'
import redis from '@adonisjs/redis/services/main'
import { redisQuotaStoreForTests as store } from '#modules/gateway/services/quotas'
import {
  reserveManyArguments,
  reserveManyScript,
  reserveSharedArguments,
  reserveSharedScript,
  type ScriptCounter,
} from '#modules/gateway/services/reserve_script'

const KEY_PREFIX = 'gw:q:test-redis-batch:'

const counter = (key: string, limit: number, amount: number, windowEndsAt: number) => ({
  key: `${KEY_PREFIX}${key}`,
  dimension: 'requests' as const,
  scope: 'key' as const,
  limit,
  amount,
  windowEndsAt,
})

test.group(
  'gateway quotas on Redis: reservations and settles are grouped, and still exact',
  (group) => {
    group.each.setup(async () => {
      if (!env.get('REDIS_URL')) return
      const keys = await redis.connection().ioConnection.keys(`${KEY_PREFIX}*`)
      if (keys.length) await redis.connection().ioConnection.del(...keys)
    })

    test('150 concurrent reservations against a limit of 40: exactly 40 taken, whole', async ({
      assert,
    }) => {
      const windowEndsAt = Date.now() + 60_000
      const answers = await Promise.all(
        Array.from({ length: 150 }, () =>
          store.reserve([
            counter('requests', 40, 1, windowEndsAt),
            counter('tokens', 1_000_000, 100, windowEndsAt),
          ])
        )
      )
      const taken = answers.filter((answer) => answer.refused === -1)
      assert.lengthOf(taken, 40)
      assert.sameMembers(
        taken.map((answer) => answer.used[0]),
        Array.from({ length: 40 }, (_, index) => index + 1)
      )
      // Refusals name the counter that ran out, carry every counter's value, and take nothing.
      for (const answer of answers.filter((entry) => entry.refused !== -1)) {
        assert.equal(answer.refused, 0)
        assert.lengthOf(answer.used, 2)
      }
      assert.deepEqual(
        await store.peek([`${KEY_PREFIX}requests`, `${KEY_PREFIX}tokens`]),
        [40, 4000]
      )
      const ttl = await redis.connection().ioConnection.pttl(`${KEY_PREFIX}requests`)
      assert.isAbove(ttl, 60_000, 'expires after its window, with the grace period')
    }).skip(!env.get('REDIS_URL'), 'REDIS_URL is not set')

    test('in one batch, a refused reservation leaves the others untouched; settles land exactly', async ({
      assert,
    }) => {
      const windowEndsAt = Date.now() + 60_000
      await store.reserve([counter('full', 1, 1, windowEndsAt)])
      const [fits, refused, alsoFits] = await Promise.all([
        store.reserve([counter('a', 10, 3, windowEndsAt), counter('b', 10, 3, windowEndsAt)]),
        store.reserve([counter('a', 10, 3, windowEndsAt), counter('full', 1, 1, windowEndsAt)]),
        store.reserve([counter('b', 10, 7, windowEndsAt)]),
      ])
      assert.deepEqual(fits, { refused: -1, used: [3, 3] })
      assert.deepEqual(refused, { refused: 1, used: [3, 1] })
      assert.deepEqual(alsoFits, { refused: -1, used: [10] })

      await Promise.all(
        Array.from({ length: 100 }, (_, index) =>
          store.adjust([{ key: `${KEY_PREFIX}a`, delta: index % 2 ? 1 : -1, windowEndsAt }])
        )
      )
      assert.deepEqual(
        await store.peek([`${KEY_PREFIX}a`, `${KEY_PREFIX}b`, `${KEY_PREFIX}full`]),
        [3, 10, 1]
      )
    }).skip(!env.get('REDIS_URL'), 'REDIS_URL is not set')

    test('a refused reservation takes back what it added: counters it created are gone, the others as they were', async ({
      assert,
    }) => {
      const windowEndsAt = Date.now() + 60_000
      const connection = redis.connection().ioConnection
      await store.reserve([counter('existing', 10, 4, windowEndsAt)])
      await connection.set(`${KEY_PREFIX}untouched`, 6)
      const answer = await store.reserve([
        counter('fresh', 100, 5, windowEndsAt),
        counter('existing', 10, 3, windowEndsAt),
        counter('over', 2, 3, windowEndsAt),
        counter('untouched', 10, 1, windowEndsAt),
      ])
      // Refused by the third; every counter's value before the reservation.
      assert.deepEqual(answer, { refused: 2, used: [0, 4, 0, 6] })
      assert.deepEqual(
        await store.peek(
          ['fresh', 'existing', 'over', 'untouched'].map((name) => `${KEY_PREFIX}${name}`)
        ),
        [0, 4, 0, 6]
      )
      assert.equal(await connection.exists(`${KEY_PREFIX}fresh`, `${KEY_PREFIX}over`), 0)
    }).skip(!env.get('REDIS_URL'), 'REDIS_URL is not set')

    test('a counter gets its expiry when it is created; later reservations and settles leave it', async ({
      assert,
    }) => {
      const windowEndsAt = Date.now() + 60_000
      const connection = redis.connection().ioConnection
      const key = `${KEY_PREFIX}window`
      await store.reserve([counter('window', 100, 5, windowEndsAt)])
      assert.isAbove(await connection.pttl(key), 60_000, 'its window, with the grace period')
      // A mark no reservation would set: any expiry written again would replace it.
      await connection.pexpire(key, 3_600_000)
      await store.reserve([counter('window', 100, 5, windowEndsAt)])
      await store.adjust([{ key, delta: -3, windowEndsAt }])
      assert.deepEqual(await store.peek([key]), [7])
      assert.isAbove(await connection.pttl(key), 3_000_000)
    }).skip(!env.get('REDIS_URL'), 'REDIS_URL is not set')

    test('a settle keeps a counter expiring even if it expired since its reservation; an exact one writes nothing', async ({
      assert,
    }) => {
      const windowEndsAt = Date.now() + 60_000
      const connection = redis.connection().ioConnection
      await store.reserve([
        counter('gone', 10, 5, windowEndsAt),
        counter('exact', 10, 1, windowEndsAt),
      ])
      // The window ended (and the grace with it) between the reservation and its settle.
      await connection.del(`${KEY_PREFIX}gone`, `${KEY_PREFIX}exact`)
      await store.adjust([
        { key: `${KEY_PREFIX}gone`, delta: -2, windowEndsAt },
        { key: `${KEY_PREFIX}exact`, delta: 0, windowEndsAt },
      ])
      assert.deepEqual(await store.peek([`${KEY_PREFIX}gone`, `${KEY_PREFIX}exact`]), [-2, 0])
      const ttl = await connection.pttl(`${KEY_PREFIX}gone`)
      assert.isAbove(ttl, 60_000, 'expires after its window, with the grace period')
      assert.equal(await connection.exists(`${KEY_PREFIX}exact`), 0)
    }).skip(!env.get('REDIS_URL'), 'REDIS_URL is not set')

    test('a batch decides exactly as one call per reservation would: answers, counts and expiries', async ({
      assert,
    }) => {
      const connection = redis.connection().ioConnection
      // A fixed sequence (a small linear congruential generator), so a failure can be replayed.
      let seed = 12_345
      const next = (below: number) => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
        return seed % below
      }
      const limits = [6, 9, 14, 20, 30]
      const windowEndsAt = Date.now() + 120_000
      const reservations = Array.from({ length: 40 }, (_, at) => {
        const counters = [0, 1, 2, 3, 4].filter(() => next(2) === 1)
        return (counters.length ? counters : [next(5)]).map((index) => ({
          index,
          amount: next(6),
          // A key whose limit changes between two requests of one batch keeps each request's own.
          limit: index === 4 && at % 3 === 0 ? 12 : limits[index],
        }))
      })
      const counters = (prefix: string, batch: typeof reservations): ScriptCounter[][] =>
        batch.map((reservation) =>
          reservation.map(({ index, amount, limit }) => ({
            key: `${prefix}${index}`,
            limit,
            amount,
            windowEndsAt,
          }))
        )
      const scripts = {
        'increment first': (batch: ScriptCounter[][]) =>
          reserveManyScript(connection)(...reserveManyArguments(batch, 0)),
        'read once, write once': (batch: ScriptCounter[][]) => {
          const shared = reserveSharedArguments(batch, 0)
          assert.isNotNull(shared, 'counters repeat in this batch')
          if (batch.length > 1) {
            // KEYS' count, 5 keys, the reservations' count, 5 expiries, then the slots' count:
            // one (key, limit) pair per key, and a second for counter 4's other limit.
            assert.equal(shared![12], 6)
          }
          return reserveSharedScript(connection)(...shared!)
        },
      }
      const call = async (
        prefix: string,
        batch: typeof reservations,
        script: (batch: ScriptCounter[][]) => Promise<unknown> = scripts['increment first']
      ) => ((await script(counters(prefix, batch))) as Array<number | string>).map(Number)
      const oneByOne = `${KEY_PREFIX}one-by-one:`
      // One counter exists already everywhere, with an expiry no reservation would set.
      for (const prefix of [
        oneByOne,
        ...Object.keys(scripts).map((name) => `${KEY_PREFIX}${name}:`),
      ]) {
        await connection.set(`${prefix}2`, 5, 'PX', 3_600_000)
      }
      const singleAnswers: number[] = []
      for (const reservation of reservations) {
        singleAnswers.push(...(await call(oneByOne, [reservation])))
      }

      for (const [name, script] of Object.entries(scripts)) {
        const batched = `${KEY_PREFIX}${name}:`
        const batchAnswer = await call(batched, reservations, script)
        assert.deepEqual(batchAnswer, singleAnswers, name)
        // The sequence is worth comparing only if it holds both outcomes.
        let offset = 0
        const refusedAt = reservations.map((reservation) => {
          const refused = batchAnswer[offset]
          offset += 1 + reservation.length
          return refused
        })
        assert.isAbove(refusedAt.filter((refused) => refused === -1).length, 5)
        assert.isAbove(refusedAt.filter((refused) => refused >= 0).length, 5)
        for (const index of [0, 1, 2, 3, 4]) {
          const [batchedValue, singleValue] = await Promise.all([
            connection.get(`${batched}${index}`),
            connection.get(`${oneByOne}${index}`),
          ])
          assert.equal(batchedValue, singleValue, `${name}: counter ${index}`)
          const ttl = await connection.pttl(`${batched}${index}`)
          if (index === 2) assert.isAbove(ttl, 3_000_000, 'an existing counter keeps its expiry')
          else if (batchedValue !== null) assert.isAbove(ttl, 120_000 - 10_000)
        }
      }
    }).skip(!env.get('REDIS_URL'), 'REDIS_URL is not set')
  }
)
