import { test } from '@japa/runner'
import type { ApiClient } from '@japa/api-client'
import db from '@adonisjs/lucid/services/db'
import { changeFeed } from '#app/platform/change_feed'
import { newId } from '#app/platform/ids'
import { profileCache } from '#modules/identity/services/profile_cache'
import { heardIdentityChange, registerUser, resetIdentity } from '#tests/helpers/identity'
import { codeIn, waitForMail } from '#tests/helpers/mail'

/*
| GET /auth/me's answer is kept per process (profile_cache.ts). Two ways a
| change must reach it: the tables' triggers (any code path, any process),
| and — for this process's own writes — the services' commit, so that the
| caller's very next request is right even before the NOTIFY comes back.
*/

type Session = Awaited<ReturnType<typeof registerUser>>

interface Me {
  user: { id: string; name: string; emailVerified: boolean }
  memberships: Array<{ tenantId: string; tenantName: string; tenantSlug: string; role: string }>
  roles: string[]
}

async function me(client: ApiClient, session: Session | string): Promise<Me> {
  const token = typeof session === 'string' ? session : session.tokens.accessToken
  const response = await client.get('/api/v1/auth/me').bearerToken(token)
  response.assertStatus(200)
  return response.body() as Me
}

test.group('profile cache: changes made behind the services reach it', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await changeFeed.ready()
  })

  test('a profile is read once, then served from memory', async ({ client, assert }) => {
    const alice = await registerUser(client)
    assert.isFalse(profileCache.holds(alice.user.id))
    const first = await me(client, alice)
    assert.isTrue(profileCache.holds(alice.user.id))
    // Served from memory: the same answer, although nothing read the database for it.
    assert.deepEqual(await me(client, alice), first)
  })

  test('a name, a tenant name and a membership changed by plain SQL show on the next read', async ({
    client,
    assert,
  }) => {
    const alice = await registerUser(client)
    await me(client, alice)

    let notified = heardIdentityChange(`u:${alice.user.id}`)
    await db.rawQuery('UPDATE identity_users SET name = ? WHERE id = ?', [
      'Alice B.',
      alice.user.id,
    ])
    await notified
    const renamedUser = await me(client, alice)
    assert.equal(renamedUser.user.name, 'Alice B.')

    notified = heardIdentityChange(`n:${alice.activeTenantId}`)
    await db.rawQuery('UPDATE identity_tenants SET name = ? WHERE id = ?', [
      'Renamed Co',
      alice.activeTenantId,
    ])
    await notified
    const renamedTenant = await me(client, alice)
    assert.equal(renamedTenant.memberships[0].tenantName, 'Renamed Co')

    const otherTenant = newId()
    await db.rawQuery(`INSERT INTO identity_tenants (id, name, slug) VALUES (?, 'Other', ?)`, [
      otherTenant,
      `other-${otherTenant}`,
    ])
    notified = heardIdentityChange(`u:${alice.user.id}`)
    await db.rawQuery(
      `INSERT INTO identity_memberships (id, tenant_id, user_id, role) VALUES (?, ?, ?, 'member')`,
      [newId(), otherTenant, alice.user.id]
    )
    await notified
    const joined = await me(client, alice)
    const memberships = joined.memberships
    assert.sameMembers(
      memberships.map((membership) => membership.tenantId),
      [alice.activeTenantId, otherTenant]
    )
  })

  test('another user’s tenant renamed does not drop this profile', async ({ client, assert }) => {
    const alice = await registerUser(client)
    const bob = await registerUser(client)
    await me(client, alice)
    await me(client, bob)
    const notified = heardIdentityChange(`n:${bob.activeTenantId}`)
    await db.rawQuery('UPDATE identity_tenants SET name = ? WHERE id = ?', [
      'Bob Renamed',
      bob.activeTenantId,
    ])
    await notified
    assert.isTrue(profileCache.holds(alice.user.id))
    assert.isFalse(profileCache.holds(bob.user.id))
  })

  test('while the feed is down nothing is served from memory', async ({
    client,
    assert,
    cleanup,
  }) => {
    const alice = await registerUser(client)
    await me(client, alice)
    assert.isTrue(profileCache.holds(alice.user.id))
    await changeFeed.close()
    cleanup(async () => {
      await changeFeed.ready()
    })
    assert.isFalse(profileCache.holds(alice.user.id))
    // No NOTIFY can be heard now; the next request must read the change itself.
    await db.rawQuery('UPDATE identity_users SET name = ? WHERE id = ?', ['Unheard', alice.user.id])
    const unheard = await me(client, alice)
    assert.equal(unheard.user.name, 'Unheard')
  })

  test('a user in many tenants is read every time (the memory stays bounded)', async ({
    client,
    assert,
  }) => {
    const alice = await registerUser(client)
    for (let index = 0; index < 20; index++) {
      const tenantId = newId()
      await db.rawQuery(`INSERT INTO identity_tenants (id, name, slug) VALUES (?, ?, ?)`, [
        tenantId,
        `T${index}`,
        `t-${tenantId}`,
      ])
      await db.rawQuery(
        `INSERT INTO identity_memberships (id, tenant_id, user_id, role) VALUES (?, ?, ?, 'member')`,
        [newId(), tenantId, alice.user.id]
      )
    }
    const many = await me(client, alice)
    assert.lengthOf(many.memberships, 21)
    assert.isFalse(profileCache.holds(alice.user.id))
  })
})

test.group('profile cache: this process’s writes, before their NOTIFY comes back', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await changeFeed.ready()
    // Every NOTIFY waits until the test ends: only a drop at the writer's commit can help.
    return changeFeed.holdDelivery()
  })

  test('creating and renaming a tenant', async ({ client, assert }) => {
    const alice = await registerUser(client)
    await me(client, alice)
    assert.isTrue(profileCache.holds(alice.user.id))

    const created = await client
      .post('/api/v1/tenants')
      .bearerToken(alice.tokens.accessToken)
      .json({ name: 'Second Co' })
    created.assertStatus(201)
    const withNew = await me(client, alice)
    const tenantIds = withNew.memberships.map((membership) => membership.tenantId)
    assert.sameMembers(tenantIds, [alice.activeTenantId, created.body().id])

    const renamed = await client
      .patch(`/api/v1/tenants/${alice.activeTenantId}`)
      .bearerToken(alice.tokens.accessToken)
      .json({ name: 'First Renamed' })
    renamed.assertStatus(200)
    const withRenamed = await me(client, alice)
    const first = withRenamed.memberships.find(
      (membership) => membership.tenantId === alice.activeTenantId
    )
    assert.equal(first?.tenantName, 'First Renamed')
  })

  test('adding a member, changing their role, removing them', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const bob = await registerUser(client, { tenantName: undefined })
    const before = await me(client, bob)
    assert.lengthOf(before.memberships, 0)

    const added = await client
      .post(`/api/v1/tenants/${owner.activeTenantId}/members`)
      .bearerToken(owner.tokens.accessToken)
      .json({ email: bob.user.email, role: 'member' })
    added.assertStatus(201)
    const afterAdding = await me(client, bob)
    assert.deepEqual(
      afterAdding.memberships.map(({ tenantId, role }) => ({ tenantId, role })),
      [{ tenantId: owner.activeTenantId!, role: 'member' }]
    )

    const changed = await client
      .patch(`/api/v1/tenants/${owner.activeTenantId}/members/${bob.user.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ role: 'admin' })
    changed.assertStatus(200)
    const promoted = await me(client, bob)
    assert.equal(promoted.memberships[0].role, 'admin')

    const removed = await client
      .delete(`/api/v1/tenants/${owner.activeTenantId}/members/${bob.user.id}`)
      .bearerToken(owner.tokens.accessToken)
    removed.assertStatus(204)
    const removedFrom = await me(client, bob)
    assert.lengthOf(removedFrom.memberships, 0)
  })

  test('verifying an email address', async ({ client, assert }) => {
    const carol = await registerUser(client, {}, { verified: false })
    const unverified = await me(client, carol)
    assert.isFalse(unverified.user.emailVerified)
    const [mail] = await waitForMail(carol.user.email)
    const verified = await client
      .post('/api/v1/auth/verify-email')
      .json({ token: codeIn(mail, 'atr_ev_') })
    verified.assertStatus(200)
    const verifiedNow = await me(client, carol)
    assert.isTrue(verifiedNow.user.emailVerified)
  })
})
