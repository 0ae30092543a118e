import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { PASSWORD, registerUser, resetIdentity } from '#tests/helpers/identity'

async function makeSuperadmin(client: Parameters<typeof registerUser>[0]) {
  const session = await registerUser(client, { email: `root.${Date.now()}@example.com` })
  await db.from('identity_users').where('id', session.user.id).update({ is_superadmin: true })
  return session
}

test.group('platform admin', (group) => {
  group.each.setup(() => resetIdentity())

  test('everyone but superadmins gets 403 on every admin route', async ({ client }) => {
    const owner = await registerUser(client)
    const token = owner.tokens.accessToken
    assertProblem(await client.get('/api/v1/admin/users').bearerToken(token), 403, 'forbidden')
    assertProblem(await client.get('/api/v1/admin/tenants').bearerToken(token), 403, 'forbidden')
    assertProblem(
      await client
        .patch(`/api/v1/admin/users/${owner.user.id}`)
        .bearerToken(token)
        .json({ disabled: true }),
      403,
      'forbidden'
    )
    assertProblem(await client.get('/api/v1/admin/users'), 401, 'unauthenticated')
  })

  test('users: listed newest first, searchable by part of the email, paginated', async ({
    client,
    assert,
  }) => {
    const root = await makeSuperadmin(client)
    await registerUser(client, { email: 'alpha_one@example.com' })
    await registerUser(client, { email: 'alphaXone@example.com' })
    await registerUser(client, { email: 'beta@example.org' })

    const search = await client
      .get('/api/v1/admin/users')
      .qs({ email: 'ALPHA_' })
      .bearerToken(root.tokens.accessToken)
    search.assertStatus(200)
    assertMatchesOpenApi(search, 'GET', '/api/v1/admin/users')
    assert.deepEqual(
      search.body().data.map((user: { email: string }) => user.email),
      ['alpha_one@example.com'],
      'underscore is matched literally, not as a wildcard'
    )

    const page = await client
      .get('/api/v1/admin/users')
      .qs({ limit: 2 })
      .bearerToken(root.tokens.accessToken)
    assert.lengthOf(page.body().data, 2)
    assert.equal(page.body().data[0].email, 'beta@example.org')
    const rest = await client
      .get('/api/v1/admin/users')
      .qs({ limit: 2, cursor: page.body().meta.nextCursor })
      .bearerToken(root.tokens.accessToken)
    assert.lengthOf(rest.body().data, 2)
    assert.isNull(rest.body().meta.nextCursor)
  })

  test('disabling a user stops their tokens at once; re-enabling lets them log in again', async ({
    client,
    assert,
  }) => {
    const root = await makeSuperadmin(client)
    const victim = await registerUser(client)
    const disabled = await client
      .patch(`/api/v1/admin/users/${victim.user.id}`)
      .bearerToken(root.tokens.accessToken)
      .json({ disabled: true })
    disabled.assertStatus(200)
    assertMatchesOpenApi(disabled, 'PATCH', `/api/v1/admin/users/${victim.user.id}`)
    assert.isString(disabled.body().disabledAt)

    assertProblem(
      await client.get('/api/v1/auth/me').bearerToken(victim.tokens.accessToken),
      401,
      'unauthenticated'
    )
    assertProblem(
      await client.post('/api/v1/auth/refresh').json({ refreshToken: victim.tokens.refreshToken }),
      401,
      'invalid_refresh_token'
    )
    const [audit] = await db.from('identity_audit_events').where('event', 'user.disabled')
    assert.deepInclude(audit, { actor_user_id: root.user.id, subject_user_id: victim.user.id })

    const enabled = await client
      .patch(`/api/v1/admin/users/${victim.user.id}`)
      .bearerToken(root.tokens.accessToken)
      .json({ disabled: false })
    assert.isNull(enabled.body().disabledAt)
    const login = await client
      .post('/api/v1/auth/login')
      .json({ email: victim.user.email, password: PASSWORD })
    login.assertStatus(200)
  })

  test('bad targets: yourself → 409, unknown or malformed id → 404, bad body → 422', async ({
    client,
  }) => {
    const root = await makeSuperadmin(client)
    const token = root.tokens.accessToken
    assertProblem(
      await client
        .patch(`/api/v1/admin/users/${root.user.id}`)
        .bearerToken(token)
        .json({ disabled: true }),
      409,
      'cannot_disable_self'
    )
    assertProblem(
      await client
        .patch(`/api/v1/admin/users/${crypto.randomUUID()}`)
        .bearerToken(token)
        .json({ disabled: true }),
      404,
      'user_not_found'
    )
    assertProblem(
      await client.patch('/api/v1/admin/users/nope').bearerToken(token).json({ disabled: true }),
      404,
      'user_not_found'
    )
    assertProblem(
      await client
        .patch(`/api/v1/admin/users/${root.user.id}`)
        .bearerToken(token)
        .json({ disabled: 'maybe' }),
      422,
      'validation_failed'
    )
  })

  test('tenants: every tenant with its member count', async ({ client, assert }) => {
    const root = await makeSuperadmin(client)
    const owner = await registerUser(client)
    await client
      .post(`/api/v1/tenants/${owner.activeTenantId}/members`)
      .bearerToken(owner.tokens.accessToken)
      .json({ email: root.user.email, role: 'member' })

    const response = await client.get('/api/v1/admin/tenants').bearerToken(root.tokens.accessToken)
    response.assertStatus(200)
    assertMatchesOpenApi(response, 'GET', '/api/v1/admin/tenants')
    const counts = Object.fromEntries(
      response
        .body()
        .data.map((tenant: { id: string; memberCount: number }) => [tenant.id, tenant.memberCount])
    )
    assert.deepEqual(counts, { [owner.activeTenantId!]: 2, [root.activeTenantId!]: 1 })
  })
})
