import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import type { ApiClient } from '@japa/api-client'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { joinAs, PASSWORD, registerUser, resetIdentity } from '#tests/helpers/identity'
import { statementsSentDuring } from '#tests/helpers/sql_spy'

type Session = Awaited<ReturnType<typeof registerUser>>

/** Adds `member` to `owner`'s tenant with `role` (through the API, as the owner). */
async function addMember(client: ApiClient, owner: Session, member: Session, role: string) {
  const response = await client
    .post(`/api/v1/tenants/${owner.activeTenantId}/members`)
    .bearerToken(owner.tokens.accessToken)
    .json({ email: member.user.email, role })
  response.assertStatus(201)
  return response
}

async function ownersOf(tenantId: string) {
  const rows = await db
    .from('identity_memberships')
    .where({ tenant_id: tenantId, role: 'owner' })
    .select('user_id')
  return rows.map((row) => row.user_id as string)
}

test.group('tenants', (group) => {
  group.each.setup(() => resetIdentity())

  test('create a tenant (you own it) and list yours, paginated', async ({ client, assert }) => {
    const alice = await registerUser(client)
    const created = await client
      .post('/api/v1/tenants')
      .bearerToken(alice.tokens.accessToken)
      .json({ name: 'Second Co' })
    created.assertStatus(201)
    assertMatchesOpenApi(created, 'POST', '/api/v1/tenants')
    assert.equal(created.body().role, 'owner')

    const first = await client
      .get('/api/v1/tenants')
      .qs({ limit: 1 })
      .bearerToken(alice.tokens.accessToken)
    first.assertStatus(200)
    assertMatchesOpenApi(first, 'GET', '/api/v1/tenants')
    assert.lengthOf(first.body().data, 1)
    const second = await client
      .get('/api/v1/tenants')
      .qs({ limit: 1, cursor: first.body().meta.nextCursor })
      .bearerToken(alice.tokens.accessToken)
    assert.sameMembers(
      [first.body().data[0].id, second.body().data[0].id],
      [alice.activeTenantId, created.body().id]
    )
  })

  test('show: members 200, everyone else 404 (also for malformed ids)', async ({ client }) => {
    const alice = await registerUser(client)
    const bob = await registerUser(client)
    const mine = await client
      .get(`/api/v1/tenants/${alice.activeTenantId}`)
      .bearerToken(alice.tokens.accessToken)
    mine.assertStatus(200)
    assertMatchesOpenApi(mine, 'GET', `/api/v1/tenants/${alice.activeTenantId}`)
    assertProblem(
      await client
        .get(`/api/v1/tenants/${bob.activeTenantId}`)
        .bearerToken(alice.tokens.accessToken),
      404,
      'tenant_not_found'
    )
    assertProblem(
      await client.get('/api/v1/tenants/not-a-uuid').bearerToken(alice.tokens.accessToken),
      404,
      'tenant_not_found'
    )
  })

  test('show of the active tenant: one statement, with the role as it is now; gone once removed', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const admin = await joinAs(client, owner, 'admin')
    const tenant = `/api/v1/tenants/${owner.activeTenantId}`
    const show = () => client.get(tenant).bearerToken(admin.token)
    const first = await show()
    first.assertStatus(200)
    let shown: Record<string, unknown> = {}
    const sent = await statementsSentDuring(async () => {
      const response = await show()
      response.assertStatus(200)
      shown = response.body()
    })
    // The membership comes with the (cached) token check; the read runs read only, no COMMIT.
    assert.lengthOf(sent, 1, sent.join('\n'))
    assert.match(sent[0], /identity_tenants/)
    assert.deepInclude(shown, { id: owner.activeTenantId, role: 'admin' })

    const demoted = await client
      .patch(`${tenant}/members/${admin.user.user.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ role: 'member' })
    demoted.assertStatus(200)
    const afterDemotion = await show()
    assert.equal(afterDemotion.body().role, 'member')

    const removed = await client
      .delete(`${tenant}/members/${admin.user.user.id}`)
      .bearerToken(owner.tokens.accessToken)
    removed.assertStatus(204)
    assertProblem(await show(), 404, 'tenant_not_found')
  })

  test('rename: admins and owners may, agents and members get 403', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const admin = await registerUser(client)
    const member = await registerUser(client)
    await addMember(client, owner, admin, 'admin')
    await addMember(client, owner, member, 'member')

    const denied = await client
      .patch(`/api/v1/tenants/${owner.activeTenantId}`)
      .bearerToken(member.tokens.accessToken)
      .json({ name: 'Hijacked' })
    assertProblem(denied, 403, 'forbidden')

    const renamed = await client
      .patch(`/api/v1/tenants/${owner.activeTenantId}`)
      .bearerToken(admin.tokens.accessToken)
      .json({ name: 'Renamed Ltd' })
    renamed.assertStatus(200)
    assertMatchesOpenApi(renamed, 'PATCH', `/api/v1/tenants/${owner.activeTenantId}`)
    const row = await db.from('identity_tenants').where('id', owner.activeTenantId!).firstOrFail()
    assert.equal(row.name, 'Renamed Ltd')
  })
})

test.group('tenant members', (group) => {
  group.each.setup(() => resetIdentity())

  test('owners add members by email; the list shows them', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const agent = await registerUser(client)
    const added = await addMember(client, owner, agent, 'agent')
    assertMatchesOpenApi(added, 'POST', `/api/v1/tenants/${owner.activeTenantId}/members`)
    assert.deepInclude(added.body(), { userId: agent.user.id, role: 'agent' })

    const list = await client
      .get(`/api/v1/tenants/${owner.activeTenantId}/members`)
      .bearerToken(agent.tokens.accessToken)
    list.assertStatus(200)
    assertMatchesOpenApi(list, 'GET', `/api/v1/tenants/${owner.activeTenantId}/members`)
    assert.deepEqual(
      list
        .body()
        .data.map((member: { userId: string; role: string }) => [member.userId, member.role]),
      [
        [owner.user.id, 'owner'],
        [agent.user.id, 'agent'],
      ]
    )
  })

  test('adding twice → 409; an unknown email → 422; nothing changes', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const agent = await registerUser(client)
    await addMember(client, owner, agent, 'agent')
    const again = await client
      .post(`/api/v1/tenants/${owner.activeTenantId}/members`)
      .bearerToken(owner.tokens.accessToken)
      .json({ email: agent.user.email, role: 'admin' })
    assertProblem(again, 409, 'already_member')
    const unknown = await client
      .post(`/api/v1/tenants/${owner.activeTenantId}/members`)
      .bearerToken(owner.tokens.accessToken)
      .json({ email: 'ghost@example.com', role: 'member' })
    assertProblem(unknown, 422, 'validation_failed')
    assert.equal(unknown.body().errors[0].field, 'email')
    const [{ count }] = await db
      .from('identity_memberships')
      .where('tenant_id', owner.activeTenantId!)
      .count('* as count')
    assert.equal(Number(count), 2)
  })

  test('admins cannot make owners or touch owners; members cannot manage anyone', async ({
    client,
  }) => {
    const owner = await registerUser(client)
    const admin = await registerUser(client)
    const member = await registerUser(client)
    const outsider = await registerUser(client)
    await addMember(client, owner, admin, 'admin')
    await addMember(client, owner, member, 'member')
    const tenant = `/api/v1/tenants/${owner.activeTenantId}`

    assertProblem(
      await client
        .post(`${tenant}/members`)
        .bearerToken(admin.tokens.accessToken)
        .json({ email: outsider.user.email, role: 'owner' }),
      403,
      'forbidden'
    )
    assertProblem(
      await client
        .patch(`${tenant}/members/${owner.user.id}`)
        .bearerToken(admin.tokens.accessToken)
        .json({ role: 'member' }),
      403,
      'forbidden'
    )
    assertProblem(
      await client
        .delete(`${tenant}/members/${owner.user.id}`)
        .bearerToken(admin.tokens.accessToken),
      403,
      'forbidden'
    )
    assertProblem(
      await client
        .post(`${tenant}/members`)
        .bearerToken(member.tokens.accessToken)
        .json({ email: outsider.user.email, role: 'member' }),
      403,
      'forbidden'
    )
    const promoted = await client
      .patch(`${tenant}/members/${member.user.id}`)
      .bearerToken(admin.tokens.accessToken)
      .json({ role: 'agent' })
    promoted.assertStatus(200)
    assertMatchesOpenApi(promoted, 'PATCH', `${tenant}/members/${member.user.id}`)
  })

  test('the last owner can be neither demoted nor removed; with a second owner, both work', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const other = await registerUser(client)
    const tenant = `/api/v1/tenants/${owner.activeTenantId}`
    assertProblem(
      await client
        .patch(`${tenant}/members/${owner.user.id}`)
        .bearerToken(owner.tokens.accessToken)
        .json({ role: 'admin' }),
      409,
      'last_owner'
    )
    assertProblem(
      await client
        .delete(`${tenant}/members/${owner.user.id}`)
        .bearerToken(owner.tokens.accessToken),
      409,
      'last_owner'
    )

    await addMember(client, owner, other, 'owner')
    const demoted = await client
      .patch(`${tenant}/members/${owner.user.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ role: 'admin' })
    demoted.assertStatus(200)
    assert.deepEqual(await ownersOf(owner.activeTenantId!), [other.user.id])
  })

  test('two owners demoting each other at once: one wins, the tenant keeps an owner', async ({
    client,
    assert,
  }) => {
    const alice = await registerUser(client)
    const bob = await registerUser(client)
    await addMember(client, alice, bob, 'owner')
    const tenant = `/api/v1/tenants/${alice.activeTenantId}`

    const [first, second] = await Promise.all([
      client
        .patch(`${tenant}/members/${bob.user.id}`)
        .bearerToken(alice.tokens.accessToken)
        .json({ role: 'member' }),
      client
        .patch(`${tenant}/members/${alice.user.id}`)
        .bearerToken(bob.tokens.accessToken)
        .json({ role: 'member' }),
    ])
    const statuses = [first.status(), second.status()].sort()
    assert.oneOf(statuses.join(','), ['200,409', '200,403'])
    assert.lengthOf(await ownersOf(alice.activeTenantId!), 1)
  })

  test('anyone may leave; afterwards the tenant is invisible to them', async ({ client }) => {
    const owner = await registerUser(client)
    const member = await registerUser(client)
    await addMember(client, owner, member, 'member')
    const tenant = `/api/v1/tenants/${owner.activeTenantId}`
    const left = await client
      .delete(`${tenant}/members/${member.user.id}`)
      .bearerToken(member.tokens.accessToken)
    left.assertStatus(204)
    assertProblem(
      await client.get(tenant).bearerToken(member.tokens.accessToken),
      404,
      'tenant_not_found'
    )
  })
})

test.group('cross-tenant access', (group) => {
  group.each.setup(() => resetIdentity())

  test("every tenant route with another tenant's ids → 404, and nothing changes", async ({
    client,
    assert,
  }) => {
    const alice = await registerUser(client)
    const bob = await registerUser(client)
    const bobsAgent = await registerUser(client)
    await addMember(client, bob, bobsAgent, 'agent')
    const theirs = `/api/v1/tenants/${bob.activeTenantId}`
    const token = alice.tokens.accessToken

    const calls: Array<[string, PromiseLike<{ status(): number }>]> = [
      ['GET tenant', client.get(theirs).bearerToken(token)],
      ['PATCH tenant', client.patch(theirs).bearerToken(token).json({ name: 'Mine now' })],
      ['GET members', client.get(`${theirs}/members`).bearerToken(token)],
      [
        'POST member',
        client
          .post(`${theirs}/members`)
          .bearerToken(token)
          .json({ email: alice.user.email, role: 'owner' }),
      ],
      [
        'PATCH member',
        client
          .patch(`${theirs}/members/${bobsAgent.user.id}`)
          .bearerToken(token)
          .json({ role: 'admin' }),
      ],
      ['DELETE member', client.delete(`${theirs}/members/${bobsAgent.user.id}`).bearerToken(token)],
      [
        'switch-tenant',
        client
          .post('/api/v1/auth/switch-tenant')
          .bearerToken(token)
          .json({ tenantId: bob.activeTenantId }),
      ],
      [
        'login into it',
        client
          .post('/api/v1/auth/login')
          .json({ email: alice.user.email, password: PASSWORD, tenantId: bob.activeTenantId }),
      ],
    ]
    for (const [label, call] of calls) {
      const response = await call
      assert.equal(response.status(), 404, `${label} answered ${response.status()}`)
    }

    // Bob's member ids inside Alice's own tenant are unknown there too.
    const mine = `/api/v1/tenants/${alice.activeTenantId}`
    assertProblem(
      await client
        .patch(`${mine}/members/${bobsAgent.user.id}`)
        .bearerToken(token)
        .json({ role: 'admin' }),
      404,
      'member_not_found'
    )

    const tenant = await db.from('identity_tenants').where('id', bob.activeTenantId!).firstOrFail()
    assert.notEqual(tenant.name, 'Mine now')
    const members = await db
      .from('identity_memberships')
      .where('tenant_id', bob.activeTenantId!)
      .orderBy('role')
    assert.deepEqual(
      members.map((row) => [row.user_id, row.role]),
      [
        [bobsAgent.user.id, 'agent'],
        [bob.user.id, 'owner'],
      ]
    )
  })
})
