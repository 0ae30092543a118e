import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { startServerProcess, stopServerProcesses } from '#tests/helpers/processes'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { until } from '#tests/helpers/waiting'
import { PRINCIPALS_CHANNEL } from '#modules/identity/services/principal_cache'

/*
| Each process caches the token check (principal_cache.ts). A change made
| through another process must hold in this one as soon as its NOTIFY
| arrives — not when the cache entry would have expired (a minute).
*/

async function meStatus(base: string, token: string) {
  const response = await fetch(`${base}/api/v1/auth/me`, {
    headers: { authorization: `Bearer ${token}` },
  })
  await response.text()
  return response.status
}

/** A change that fires no trigger, so no process hears of it. */
function silently(sql: string) {
  return db.transaction(async (trx) => {
    await trx.rawQuery('SET LOCAL session_replication_role = replica')
    await trx.rawQuery(sql)
  })
}

test.group('principal cache across processes', (group) => {
  group.each.setup(() => resetIdentity())
  group.each.timeout(120_000)

  test('a logout and a disabled account in one process hold in the other within moments', async ({
    client,
    assert,
    cleanup,
  }) => {
    const other = await startServerProcess(3397, { ATRIUM_ROLE: 'web' })
    cleanup(() => void stopServerProcesses([other]))

    const leaving = await registerUser(client)
    // First show the other process answers from memory: a change made with triggers
    // off (replica mode, no NOTIFY) goes unseen there once the token is cached.
    // Each round first drops the token's entry there (its own NOTIFY), so a round that
    // cached the disabled answer before the process heard the feed cannot poison the next.
    const { jti } = JSON.parse(
      Buffer.from(leaving.tokens.accessToken.split('.')[1], 'base64url').toString()
    ) as { jti: string }
    const servedFromMemory = await until(async () => {
      await db.rawQuery('SELECT pg_notify(?, ?)', [PRINCIPALS_CHANNEL, `t:${jti}`])
      if ((await meStatus(other.url, leaving.tokens.accessToken)) !== 200) return false
      await silently(
        `UPDATE identity_users SET disabled_at = now() WHERE id = '${leaving.user.id}'`
      )
      const status = await meStatus(other.url, leaving.tokens.accessToken)
      await silently(`UPDATE identity_users SET disabled_at = NULL WHERE id = '${leaving.user.id}'`)
      return status === 200
    }, 10_000)
    assert.isTrue(servedFromMemory, 'the other process never cached the token check')

    const logout = await client.post('/api/v1/auth/logout').bearerToken(leaving.tokens.accessToken)
    logout.assertStatus(204)
    assert.isTrue(
      await until(
        async () => (await meStatus(other.url, leaving.tokens.accessToken)) === 401,
        5000
      ),
      'the other process still accepts a logged-out token'
    )

    const admin = await registerUser(client)
    const target = await registerUser(client)
    assert.equal(await meStatus(other.url, target.tokens.accessToken), 200)
    await db.from('identity_users').where('id', admin.user.id).update({ is_superadmin: true })
    const disable = await client
      .patch(`/api/v1/admin/users/${target.user.id}`)
      .bearerToken(admin.tokens.accessToken)
      .json({ disabled: true })
    disable.assertStatus(200)
    assert.isTrue(
      await until(async () => (await meStatus(other.url, target.tokens.accessToken)) === 401, 5000),
      'the other process still accepts a disabled user'
    )
  })
})
