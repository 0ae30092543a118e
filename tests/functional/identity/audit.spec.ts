import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { PASSWORD, registerUser, resetIdentity } from '#tests/helpers/identity'
import { signingKeys } from '#modules/identity/index'

async function events(where: Record<string, unknown> = {}) {
  return db.from('identity_audit_events').where(where).orderBy('created_at', 'asc')
}

test.group('audit log', (group) => {
  group.each.setup(() => resetIdentity())

  test('logins are recorded with ip, user agent and request id; failures too', async ({
    client,
    assert,
  }) => {
    const alice = await registerUser(client)
    await client
      .post('/api/v1/auth/login')
      .header('user-agent', 'audit-test/1.0')
      .header('x-request-id', 'audit-login-ok-1')
      .json({ email: alice.user.email, password: PASSWORD })
    const wrongPassword = await client
      .post('/api/v1/auth/login')
      .json({ email: alice.user.email, password: 'wrong password!!' })
    wrongPassword.assertStatus(401)
    const unknownEmail = await client
      .post('/api/v1/auth/login')
      .json({ email: `nobody.${Date.now()}@example.com`, password: 'wrong password!!' })
    unknownEmail.assertStatus(401)

    const [ok] = await events({ event: 'login.succeeded' })
    assert.deepInclude(ok, {
      tenant_id: alice.activeTenantId,
      actor_user_id: alice.user.id,
      user_agent: 'audit-test/1.0',
      request_id: 'audit-login-ok-1',
    })
    assert.isString(ok.ip)
    const failed = await events({ event: 'login.failed' })
    assert.deepEqual(
      failed.map((row) => [row.subject_user_id, row.details.reason, row.tenant_id]),
      [
        [alice.user.id, 'wrong_password', null],
        [null, 'unknown_email', null],
      ]
    )
  })

  test('member changes are recorded in the same transaction, and listed for owners', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const agent = await registerUser(client)
    const tenant = `/api/v1/tenants/${owner.activeTenantId}`
    await client
      .post(`${tenant}/members`)
      .bearerToken(owner.tokens.accessToken)
      .json({ email: agent.user.email, role: 'agent' })
    await client
      .patch(`${tenant}/members/${agent.user.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ role: 'admin' })
    await client.delete(`${tenant}/members/${agent.user.id}`).bearerToken(owner.tokens.accessToken)
    // Refused changes record nothing.
    await client
      .patch(`${tenant}/members/${owner.user.id}`)
      .bearerToken(owner.tokens.accessToken)
      .json({ role: 'member' })

    const response = await client.get(`${tenant}/audit`).bearerToken(owner.tokens.accessToken)
    response.assertStatus(200)
    assertMatchesOpenApi(response, 'GET', `${tenant}/audit`)
    const memberEvents = response
      .body()
      .data.filter((entry: { event: string }) => entry.event.startsWith('member.'))
      .map((entry: { event: string; details: Record<string, unknown>; subjectUserId: string }) => [
        entry.event,
        entry.subjectUserId,
        entry.details,
      ])
    assert.deepEqual(memberEvents, [
      ['member.removed', agent.user.id, { role: 'admin', left: false }],
      ['member.role_changed', agent.user.id, { from: 'agent', to: 'admin' }],
      ['member.added', agent.user.id, { role: 'agent' }],
    ])
  })

  test("a tenant's audit is for its owners and admins only, and invisible to other tenants", async ({
    client,
  }) => {
    const owner = await registerUser(client)
    const member = await registerUser(client)
    const stranger = await registerUser(client)
    const tenant = `/api/v1/tenants/${owner.activeTenantId}`
    await client
      .post(`${tenant}/members`)
      .bearerToken(owner.tokens.accessToken)
      .json({ email: member.user.email, role: 'member' })
    assertProblem(
      await client.get(`${tenant}/audit`).bearerToken(member.tokens.accessToken),
      403,
      'forbidden'
    )
    assertProblem(
      await client.get(`${tenant}/audit`).bearerToken(stranger.tokens.accessToken),
      404,
      'tenant_not_found'
    )
  })

  test('refresh-token reuse and key rotation are recorded', async ({ client, assert }) => {
    const alice = await registerUser(client)
    await client.post('/api/v1/auth/refresh').json({ refreshToken: alice.tokens.refreshToken })
    await client.post('/api/v1/auth/refresh').json({ refreshToken: alice.tokens.refreshToken })
    const [reuse] = await events({ event: 'refresh.reused' })
    assert.deepInclude(reuse, { subject_user_id: alice.user.id, tenant_id: alice.activeTenantId })

    const { newKid } = await signingKeys.rotate()
    const [rotation] = await events({ event: 'keys.rotated' })
    assert.equal(rotation.details.newKid, newKid)
  })
})
