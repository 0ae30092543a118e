import { test } from '@japa/runner'
import type { ApiClient } from '@japa/api-client'
import db from '@adonisjs/lucid/services/db'
import { changeFeed } from '#app/platform/change_feed'
import { FeedCache } from '#app/platform/feed_cache'
import { clock } from '#app/platform/clock'
import { principalCache } from '#modules/identity/services/principal_cache'
import { heardIdentityChange, registerUser, resetIdentity } from '#tests/helpers/identity'

/*
| The token check's answer is cached per process (principal_cache.ts). These
| tests change identity rows behind every service's back — plain SQL, as a
| migration, a console session or a future code path would — and prove the
| table triggers still reach the cache: the next request sees the change.
*/

function claimsOf(accessToken: string) {
  return JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString()) as {
    jti: string
    sid: string
    sub: string
  }
}

async function expectMe(client: ApiClient, token: string, status: number) {
  const response = await client.get('/api/v1/auth/me').bearerToken(token)
  response.assertStatus(status)
}

test.group('principal cache: changes reach it through the tables', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await changeFeed.ready()
  })

  test('a token is checked once, then served from memory', async ({ client, assert }) => {
    const session = await registerUser(client)
    const { jti } = claimsOf(session.tokens.accessToken)
    assert.isFalse(principalCache.holds(jti))
    const first = await client.get('/api/v1/auth/me').bearerToken(session.tokens.accessToken)
    first.assertStatus(200)
    assert.isTrue(principalCache.holds(jti))
  })

  test('a user disabled by plain SQL is refused on the next request', async ({ client }) => {
    const session = await registerUser(client)
    const token = session.tokens.accessToken
    await expectMe(client, token, 200)

    const notified = heardIdentityChange(`u:${session.user.id}`)
    await db.rawQuery('UPDATE identity_users SET disabled_at = now() WHERE id = ?', [
      session.user.id,
    ])
    await notified
    await expectMe(client, token, 401)
  })

  test('a role changed or a membership deleted by plain SQL holds at once', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client)
    const token = session.tokens.accessToken
    const me = await client.get('/api/v1/auth/me').bearerToken(token)
    assert.include(me.body().roles, 'owner')

    let notified = heardIdentityChange(`u:${session.user.id}`)
    await db.rawQuery('UPDATE identity_memberships SET role = ? WHERE user_id = ?', [
      'member',
      session.user.id,
    ])
    await notified
    const demoted = await client.get('/api/v1/auth/me').bearerToken(token)
    assert.notInclude(demoted.body().roles, 'owner')
    assert.include(demoted.body().roles, 'member')

    notified = heardIdentityChange(`u:${session.user.id}`)
    await db.rawQuery('DELETE FROM identity_memberships WHERE user_id = ?', [session.user.id])
    await notified
    const members = await client
      .get(`/api/v1/tenants/${session.activeTenantId}/members`)
      .bearerToken(token)
    members.assertStatus(404)
  })

  test('a session or a single token revoked by plain SQL is refused', async ({ client }) => {
    const first = await registerUser(client)
    const token = first.tokens.accessToken
    await expectMe(client, token, 200)
    const { sid } = claimsOf(token)

    let notified = heardIdentityChange(`s:${sid}`)
    await db.rawQuery('UPDATE identity_refresh_tokens SET revoked_at = now() WHERE family_id = ?', [
      sid,
    ])
    await notified
    await expectMe(client, token, 401)

    const second = await registerUser(client)
    const other = second.tokens.accessToken
    await expectMe(client, other, 200)
    const denied = claimsOf(other).jti
    notified = heardIdentityChange(`t:${denied}`)
    await db.rawQuery(
      `INSERT INTO identity_revoked_access_tokens (jti, expires_at) VALUES (?, now() + interval '1 hour')`,
      [denied]
    )
    await notified
    await expectMe(client, other, 401)
  })

  test('logging out refuses the token on the very next request, without waiting for the feed', async ({
    client,
  }) => {
    const session = await registerUser(client)
    const token = session.tokens.accessToken
    await expectMe(client, token, 200)
    const loggedOut = await client.post('/api/v1/auth/logout').bearerToken(token)
    loggedOut.assertStatus(204)
    await expectMe(client, token, 401)
  })

  test('while the feed is down nothing is served from memory', async ({
    client,
    assert,
    cleanup,
  }) => {
    const session = await registerUser(client)
    const token = session.tokens.accessToken
    const { jti } = claimsOf(token)
    await expectMe(client, token, 200)
    assert.isTrue(principalCache.holds(jti))

    await changeFeed.close()
    cleanup(async () => {
      await changeFeed.ready()
    })
    assert.isFalse(principalCache.holds(jti))
    // No NOTIFY can be heard now; the next request must read the change itself.
    await db.rawQuery('UPDATE identity_users SET disabled_at = now() WHERE id = ?', [
      session.user.id,
    ])
    await expectMe(client, token, 401)
  })
})

/** A cache on its own channel, heard (its LISTEN done), that drops nothing on a NOTIFY. */
async function heardCache(channel: string) {
  const cache = new FeedCache<string>(channel, { max: 10, ttlMs: 60_000 }, () => {})
  await changeFeed.ready()
  return cache
}

/** The clock held at the returned instant (moving on in real time), put back after the test. */
function clockFrom(cleanup: (callback: () => void) => void) {
  cleanup(() => clock.reset())
  const start = Date.now()
  clock.travelTo(start)
  return start
}

test.group('FeedCache', (group) => {
  group.each.setup(async () => {
    await changeFeed.ready()
  })

  test('a read that overlapped a change does not put back what the change dropped', async ({
    assert,
  }) => {
    const cache = await heardCache('atrium_test_feed_cache')
    let release!: (value: string) => void
    const slowRead = cache.read('k', () => new Promise<string>((resolve) => (release = resolve)))
    // The change lands while the read is in flight; the read saw the old row.
    cache.delete('k')
    release('old')
    assert.equal(await slowRead, 'old')
    assert.isFalse(cache.holds('k'))
    assert.equal(await cache.read('k', async () => 'new'), 'new')
    assert.isTrue(cache.holds('k'))
    assert.equal(await cache.read('k', async () => 'newer'), 'new')
  })

  test('reads that miss together share one load, and its failure', async ({ assert }) => {
    const cache = await heardCache('atrium_test_feed_cache_shared')
    let loads = 0
    let release!: (value: string) => void
    const slow = () => {
      loads++
      return new Promise<string>((resolve) => (release = resolve))
    }
    const reads = [cache.read('k', slow), cache.read('k', slow), cache.read('k', slow)]
    release('one')
    assert.deepEqual(await Promise.all(reads), ['one', 'one', 'one'])
    assert.equal(loads, 1)
    assert.isTrue(cache.holds('k'))

    let fail!: (error: Error) => void
    const failing = () => {
      loads++
      return new Promise<string>((_, reject) => (fail = reject))
    }
    const refused = [cache.read('f', failing), cache.read('f', failing)]
    fail(new Error('database away'))
    for (const read of refused) await assert.rejects(() => read, 'database away')
    assert.equal(loads, 2)
    assert.isFalse(cache.holds('f'))
    assert.equal(await cache.read('f', async () => 'back'), 'back')
  })

  test('a read told of a change does not join a load begun before it', async ({ assert }) => {
    const cache = await heardCache('atrium_test_feed_cache_joins')
    let releaseOld!: (value: string) => void
    const before = cache.read('k', () => new Promise<string>((resolve) => (releaseOld = resolve)))
    cache.delete('k')
    const after = cache.read('k', async () => 'new')
    releaseOld('old')
    assert.equal(await before, 'old')
    assert.equal(await after, 'new')
    assert.equal(await cache.read('k', async () => 'newer'), 'new')
  })

  test('while its channel is not heard yet, every read loads for itself', async ({ assert }) => {
    // Made here, its LISTEN is still on its way: nothing may be shared or kept.
    const cache = new FeedCache<string>(
      'atrium_test_feed_cache_unheard',
      { max: 10, ttlMs: 60_000 },
      () => {}
    )
    assert.isFalse(changeFeed.hears(cache.channel))
    let loads = 0
    const load = async () => `load ${++loads}`
    assert.deepEqual(await Promise.all([cache.read('k', load), cache.read('k', load)]), [
      'load 1',
      'load 2',
    ])
  })

  test('read in the second half of its life, an entry is served and refreshed behind', async ({
    assert,
    cleanup,
  }) => {
    const cache = await heardCache('atrium_test_feed_cache_refresh')
    const start = clockFrom(cleanup)
    let loads = 0
    let release!: (value: string) => void
    const slow = () => {
      loads++
      return new Promise<string>((resolve) => (release = resolve))
    }
    const first = cache.read('k', slow)
    release('v1')
    assert.equal(await first, 'v1')

    clock.travelTo(start + 29_000)
    assert.equal(await cache.read('k', slow), 'v1')
    assert.equal(loads, 1, 'young: no refresh')

    clock.travelTo(start + 31_000)
    assert.equal(await cache.read('k', slow), 'v1', 'old: served while it refreshes')
    assert.equal(await cache.read('k', slow), 'v1', 'one refresh at a time')
    assert.equal(loads, 2)
    release('v2')
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(await cache.read('k', slow), 'v2')
    assert.equal(loads, 2)

    // Never served past its expiry, refreshed or not: the bound stays ttlMs.
    clock.travelTo(start + 31_000 + 61_000)
    const late = cache.read('k', slow)
    assert.equal(loads, 3)
    release('v3')
    assert.equal(await late, 'v3')
  })

  test('a refresh that fails leaves the entry until it expires, and the next read tries again', async ({
    assert,
    cleanup,
  }) => {
    const cache = await heardCache('atrium_test_feed_cache_refresh_fails')
    const start = clockFrom(cleanup)
    assert.equal(await cache.read('k', async () => 'v1'), 'v1')
    clock.travelTo(start + 40_000)
    let attempts = 0
    const failing = async () => {
      attempts++
      throw new Error('database away')
    }
    assert.equal(await cache.read('k', failing), 'v1')
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(await cache.read('k', failing), 'v1')
    assert.equal(attempts, 2)
    clock.travelTo(start + 61_000)
    await assert.rejects(() => cache.read('k', failing), 'database away')
  })

  test('a NOTIFY on its channel reaches onChange; a rolled-back one does not', async ({
    assert,
  }) => {
    const seen: string[] = []
    const cache = new FeedCache<string>(
      'atrium_test_feed_cache_two',
      { max: 10, ttlMs: 60_000 },
      (change, entries) => {
        seen.push(change)
        entries.delete(change)
      }
    )
    await changeFeed.ready()
    await cache.read('a', async () => 'A')
    await cache.read('b', async () => 'B')
    await db
      .transaction(async (trx) => {
        await trx.rawQuery(`SELECT pg_notify('atrium_test_feed_cache_two', 'b')`)
        throw new Error('roll back')
      })
      .catch(() => {})
    const arrived = new Promise<void>((resolve) =>
      changeFeed.on('atrium_test_feed_cache_two', (change) => change === 'a' && resolve())
    )
    await db.rawQuery(`SELECT pg_notify('atrium_test_feed_cache_two', 'a')`)
    await arrived
    assert.deepEqual(seen, ['a'])
    assert.isFalse(cache.holds('a'))
    assert.isTrue(cache.holds('b'))
  })
})
