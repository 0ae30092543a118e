import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import type { ApiClient } from '@japa/api-client'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { PASSWORD, registerUser, resetIdentity } from '#tests/helpers/identity'

type Session = Awaited<ReturnType<typeof registerUser>>

async function invite(client: ApiClient, owner: Session, email: string, role = 'agent') {
  const response = await client
    .post(`/api/v1/tenants/${owner.activeTenantId}/invitations`)
    .bearerToken(owner.tokens.accessToken)
    .json({ email, role })
  return response
}

async function signUp(client: ApiClient, email: string) {
  const response = await client
    .post('/api/v1/auth/register')
    .json({ email, password: PASSWORD, name: 'Invitee' })
  response.assertStatus(201)
  return response.body() as Session
}

test.group('invitations', (group) => {
  group.each.setup(() => resetIdentity())

  test('invite someone without an account; after signing up they accept and become a member', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const invited = await invite(client, owner, 'New.Person@Example.com', 'agent')
    invited.assertStatus(201)
    assertMatchesOpenApi(invited, 'POST', `/api/v1/tenants/${owner.activeTenantId}/invitations`)
    assert.equal(invited.body().email, 'new.person@example.com')
    const stored = await db
      .from('identity_invitations')
      .where('id', invited.body().id)
      .firstOrFail()
    assert.notEqual(stored.token_hash, invited.body().token, 'the token is stored hashed')

    const pending = await client
      .get(`/api/v1/tenants/${owner.activeTenantId}/invitations`)
      .bearerToken(owner.tokens.accessToken)
    assertMatchesOpenApi(pending, 'GET', `/api/v1/tenants/${owner.activeTenantId}/invitations`)
    assert.lengthOf(pending.body().data, 1)
    assert.notProperty(pending.body().data[0], 'token')

    const invitee = await signUp(client, 'new.person@example.com')
    const accepted = await client
      .post('/api/v1/invitations/accept')
      .bearerToken(invitee.tokens.accessToken)
      .json({ token: invited.body().token })
    accepted.assertStatus(200)
    assertMatchesOpenApi(accepted, 'POST', '/api/v1/invitations/accept')
    assert.deepEqual(accepted.body(), { tenantId: owner.activeTenantId, role: 'agent' })
    const membership = await db
      .from('identity_memberships')
      .where({ tenant_id: owner.activeTenantId!, user_id: invitee.user.id })
      .firstOrFail()
    assert.equal(membership.role, 'agent')

    // Used once: a second accept is refused, and the invitation is no longer pending.
    const again = await client
      .post('/api/v1/invitations/accept')
      .bearerToken(invitee.tokens.accessToken)
      .json({ token: invited.body().token })
    assertProblem(again, 404, 'invitation_not_found')
  })

  test('an invitation only works for its own email, and revoked or expired ones not at all', async ({
    client,
  }) => {
    const owner = await registerUser(client)
    const first = await invite(client, owner, 'right@example.com')
    const someoneElse = await signUp(client, 'wrong@example.com')
    assertProblem(
      await client
        .post('/api/v1/invitations/accept')
        .bearerToken(someoneElse.tokens.accessToken)
        .json({ token: first.body().token }),
      404,
      'invitation_not_found'
    )

    const right = await signUp(client, 'right@example.com')
    const revoked = await client
      .delete(`/api/v1/tenants/${owner.activeTenantId}/invitations/${first.body().id}`)
      .bearerToken(owner.tokens.accessToken)
    revoked.assertStatus(204)
    assertProblem(
      await client
        .post('/api/v1/invitations/accept')
        .bearerToken(right.tokens.accessToken)
        .json({ token: first.body().token }),
      404,
      'invitation_not_found'
    )

    const second = await invite(client, owner, 'right@example.com')
    await db
      .from('identity_invitations')
      .where('id', second.body().id)
      .update({ expires_at: new Date(Date.now() - 1000) })
    assertProblem(
      await client
        .post('/api/v1/invitations/accept')
        .bearerToken(right.tokens.accessToken)
        .json({ token: second.body().token }),
      404,
      'invitation_not_found'
    )
    assertProblem(
      await client
        .post('/api/v1/invitations/accept')
        .bearerToken(right.tokens.accessToken)
        .json({ token: 'atr_inv_forged' }),
      404,
      'invitation_not_found'
    )
  })

  test('the same roles rule as adding members; other tenants see nothing', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const admin = await registerUser(client)
    const member = await registerUser(client)
    const stranger = await registerUser(client)
    for (const [who, role] of [
      [admin, 'admin'],
      [member, 'member'],
    ] as const) {
      const added = await client
        .post(`/api/v1/tenants/${owner.activeTenantId}/members`)
        .bearerToken(owner.tokens.accessToken)
        .json({ email: who.user.email, role })
      added.assertStatus(201)
    }
    const tenant = `/api/v1/tenants/${owner.activeTenantId}/invitations`
    assertProblem(
      await client
        .post(tenant)
        .bearerToken(admin.tokens.accessToken)
        .json({ email: 'x@example.com', role: 'owner' }),
      403,
      'forbidden'
    )
    assertProblem(
      await client
        .post(tenant)
        .bearerToken(member.tokens.accessToken)
        .json({ email: 'x@example.com', role: 'member' }),
      403,
      'forbidden'
    )
    assertProblem(
      await client.get(tenant).bearerToken(stranger.tokens.accessToken),
      404,
      'tenant_not_found'
    )
    const [{ count }] = await db.from('identity_invitations').count('* as count')
    assert.equal(Number(count), 0)
  })

  test('accepting into a tenant you already belong to → 409, and the invitation stays pending', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const agent = await registerUser(client)
    await client
      .post(`/api/v1/tenants/${owner.activeTenantId}/members`)
      .bearerToken(owner.tokens.accessToken)
      .json({ email: agent.user.email, role: 'agent' })
    const invited = await invite(client, owner, agent.user.email, 'admin')
    const response = await client
      .post('/api/v1/invitations/accept')
      .bearerToken(agent.tokens.accessToken)
      .json({ token: invited.body().token })
    assertProblem(response, 409, 'already_member')
    const row = await db.from('identity_invitations').where('id', invited.body().id).firstOrFail()
    assert.isNull(row.accepted_at)
  })
})
