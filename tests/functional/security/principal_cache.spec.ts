import { test } from '@japa/runner'
import type { ApiClient } from '@japa/api-client'
import db from '@adonisjs/lucid/services/db'
import { changeFeed } from '#app/platform/change_feed'
import { FeedCache } from '#app/platform/feed_cache'
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

test.group('FeedCache', (group) => {
  group.each.setup(async () => {
    await changeFeed.ready()
  })

  test('a read that overlapped a change does not put back what the change dropped', async ({
    assert,
  }) => {
    const cache = new FeedCache<string>(
      'atrium_test_feed_cache',
      { max: 10, ttlMs: 60_000 },
      () => {}
    )
    await changeFeed.ready()
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
