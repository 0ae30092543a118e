import { test } from '@japa/runner'
import { createHash } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { PASSWORD, registerUser, resetIdentity } from '#tests/helpers/identity'

test.group('identity: register', (group) => {
  group.each.setup(() => resetIdentity())

  test('an account without a tenant', async ({ client, assert }) => {
    const response = await client
      .post('/api/v1/auth/register')
      .json({ email: '  Ada@Example.COM ', password: PASSWORD, name: 'Ada' })
    response.assertStatus(201)
    assertMatchesOpenApi(response, 'POST', '/api/v1/auth/register')
    assert.equal(response.body().user.email, 'ada@example.com')
    assert.isNull(response.body().activeTenantId)
    assert.deepEqual(response.body().roles, [])

    const row = await db.from('identity_users').where('email', 'ada@example.com').firstOrFail()
    assert.match(row.password_hash, /^\$scrypt\$/)
    assert.notInclude(row.password_hash, PASSWORD)
  })

  test('with tenantName: a tenant, an owner membership, and a hashed refresh token', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client, { tenantName: 'Acme Rockets' })
    assert.deepEqual(session.roles, ['owner'])
    const tenant = await db
      .from('identity_tenants')
      .where('id', session.activeTenantId!)
      .firstOrFail()
    assert.equal(tenant.name, 'Acme Rockets')
    assert.match(tenant.slug, /^acme-rockets-[0-9a-f]{6}$/)
    const membership = await db
      .from('identity_memberships')
      .where('user_id', session.user.id)
      .firstOrFail()
    assert.deepInclude(membership, { tenant_id: tenant.id, role: 'owner' })

    const stored = await db
      .from('identity_refresh_tokens')
      .where('user_id', session.user.id)
      .firstOrFail()
    assert.notEqual(stored.token_hash, session.tokens.refreshToken)
    assert.equal(
      stored.token_hash,
      createHash('sha256').update(session.tokens.refreshToken).digest('hex')
    )
  })

  test('the same email in another case → 409 email_taken, one account', async ({
    client,
    assert,
  }) => {
    await registerUser(client, { email: 'grace@example.com' })
    const again = await client
      .post('/api/v1/auth/register')
      .json({ email: 'GRACE@example.com', password: PASSWORD, name: 'Grace' })
    assertProblem(again, 409, 'email_taken')
    const [{ count }] = await db.from('identity_users').count('* as count')
    assert.equal(Number(count), 1)
  })

  for (const [label, body, field] of [
    [
      'an 11-character password',
      { email: 'a@example.com', password: 'x'.repeat(11), name: 'A' },
      'password',
    ],
    ['a malformed email', { email: 'not-an-email', password: PASSWORD, name: 'A' }, 'email'],
    ['no name', { email: 'a@example.com', password: PASSWORD }, 'name'],
    [
      'a one-letter tenant name',
      { email: 'a@example.com', password: PASSWORD, name: 'A', tenantName: 'x' },
      'tenantName',
    ],
  ] as const) {
    test(`${label} → 422 on ${field}, nothing stored`, async ({ client, assert }) => {
      const response = await client.post('/api/v1/auth/register').json(body)
      assertProblem(response, 422, 'validation_failed')
      assert.include(
        response.body().errors.map((error: { field: string }) => error.field),
        field
      )
      const [{ count }] = await db.from('identity_users').count('* as count')
      assert.equal(Number(count), 0)
    })
  }
})

test.group('identity: login, me, logout', (group) => {
  group.each.setup(() => resetIdentity())

  test('login returns a session whose access token opens /auth/me', async ({ client, assert }) => {
    const registered = await registerUser(client)
    const login = await client
      .post('/api/v1/auth/login')
      .json({ email: registered.user.email, password: PASSWORD })
    login.assertStatus(200)
    assertMatchesOpenApi(login, 'POST', '/api/v1/auth/login')
    assert.equal(login.body().activeTenantId, registered.activeTenantId)

    const me = await client.get('/api/v1/auth/me').bearerToken(login.body().tokens.accessToken)
    me.assertStatus(200)
    assertMatchesOpenApi(me, 'GET', '/api/v1/auth/me')
    assert.equal(me.body().user.id, registered.user.id)
    assert.deepEqual(me.body().roles, ['owner'])
    assert.deepEqual(
      me
        .body()
        .memberships.map((membership: { tenantId: string; role: string }) => [
          membership.tenantId,
          membership.role,
        ]),
      [[registered.activeTenantId, 'owner']]
    )
  })

  test('a password is compared without its surrounding spaces, as it was registered', async ({
    client,
  }) => {
    // Strings in JSON bodies are no longer trimmed by the body parser; the password
    // validators trim, so accounts made before still sign in as they did.
    const registered = await registerUser(client, { password: `  ${PASSWORD}\n` })
    for (const password of [PASSWORD, `  ${PASSWORD}\n`, ` ${PASSWORD} `]) {
      const login = await client
        .post('/api/v1/auth/login')
        .json({ email: registered.user.email, password })
      login.assertStatus(200)
    }
    const inner = await client
      .post('/api/v1/auth/login')
      .json({ email: registered.user.email, password: PASSWORD.replace(' ', '  ') })
    assertProblem(inner, 401, 'invalid_credentials')
  })

  test('unknown email and wrong password get the same answer', async ({ client, assert }) => {
    const registered = await registerUser(client)
    const wrongPassword = await client
      .post('/api/v1/auth/login')
      .json({ email: registered.user.email, password: 'not the password at all' })
    const unknownEmail = await client
      .post('/api/v1/auth/login')
      .json({ email: `nobody.${Date.now()}@example.com`, password: 'not the password at all' })
    assertProblem(wrongPassword, 401, 'invalid_credentials')
    assertProblem(unknownEmail, 401, 'invalid_credentials')
    const withoutRequestId = (body: Record<string, unknown>) => ({ ...body, requestId: undefined })
    assert.deepEqual(withoutRequestId(wrongPassword.body()), withoutRequestId(unknownEmail.body()))
  })

  test('login into a tenant the user does not belong to → 404', async ({ client }) => {
    const alice = await registerUser(client)
    const bob = await registerUser(client)
    const response = await client
      .post('/api/v1/auth/login')
      .json({ email: alice.user.email, password: PASSWORD, tenantId: bob.activeTenantId })
    assertProblem(response, 404, 'tenant_not_found')
  })

  test('logout: this access token and the session refresh token stop working at once', async ({
    client,
  }) => {
    const session = await registerUser(client)
    const logout = await client.post('/api/v1/auth/logout').bearerToken(session.tokens.accessToken)
    logout.assertStatus(204)

    const me = await client.get('/api/v1/auth/me').bearerToken(session.tokens.accessToken)
    assertProblem(me, 401, 'unauthenticated')
    const refresh = await client
      .post('/api/v1/auth/refresh')
      .json({ refreshToken: session.tokens.refreshToken })
    assertProblem(refresh, 401, 'invalid_refresh_token')
  })

  test('a disabled user is refused at once: token, refresh and login', async ({ client }) => {
    const session = await registerUser(client)
    await db.from('identity_users').where('id', session.user.id).update({ disabled_at: new Date() })

    assertProblem(
      await client.get('/api/v1/auth/me').bearerToken(session.tokens.accessToken),
      401,
      'unauthenticated'
    )
    assertProblem(
      await client.post('/api/v1/auth/refresh').json({ refreshToken: session.tokens.refreshToken }),
      401,
      'invalid_refresh_token'
    )
    assertProblem(
      await client
        .post('/api/v1/auth/login')
        .json({ email: session.user.email, password: PASSWORD }),
      401,
      'invalid_credentials'
    )
  })
})

test.group('identity: refresh tokens', (group) => {
  group.each.setup(() => resetIdentity())

  test('a refresh rotates the token and keeps the tenant and roles', async ({ client, assert }) => {
    const session = await registerUser(client)
    const refreshed = await client
      .post('/api/v1/auth/refresh')
      .json({ refreshToken: session.tokens.refreshToken })
    refreshed.assertStatus(200)
    assertMatchesOpenApi(refreshed, 'POST', '/api/v1/auth/refresh')
    assert.notEqual(refreshed.body().tokens.refreshToken, session.tokens.refreshToken)
    assert.equal(refreshed.body().activeTenantId, session.activeTenantId)
    assert.deepEqual(refreshed.body().roles, ['owner'])
    const me = await client.get('/api/v1/auth/me').bearerToken(refreshed.body().tokens.accessToken)
    me.assertStatus(200)
  })

  test('reusing a used refresh token revokes the whole family', async ({ client, assert }) => {
    const session = await registerUser(client)
    const first = await client
      .post('/api/v1/auth/refresh')
      .json({ refreshToken: session.tokens.refreshToken })
    first.assertStatus(200)

    const replay = await client
      .post('/api/v1/auth/refresh')
      .json({ refreshToken: session.tokens.refreshToken })
    assertProblem(replay, 401, 'invalid_refresh_token')

    const descendant = await client
      .post('/api/v1/auth/refresh')
      .json({ refreshToken: first.body().tokens.refreshToken })
    assertProblem(descendant, 401, 'invalid_refresh_token')
    const live = await db
      .from('identity_refresh_tokens')
      .where('user_id', session.user.id)
      .whereNull('revoked_at')
      .count('* as count')
    assert.equal(Number(live[0].count), 0)
  })

  test('the same refresh token sent twice at once: exactly one wins', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client)
    const responses = await Promise.all(
      Array.from({ length: 4 }, () =>
        client.post('/api/v1/auth/refresh').json({ refreshToken: session.tokens.refreshToken })
      )
    )
    const statuses = responses.map((response) => response.status()).sort()
    assert.deepEqual(statuses, [200, 401, 401, 401])
  })

  for (const [label, refreshToken] of [
    ['unknown', 'atr_rt_' + 'x'.repeat(43)],
    ['without our prefix', 'abc'],
    ['absurdly long', 'atr_rt_' + 'x'.repeat(190)],
  ] as const) {
    test(`an ${label} refresh token → 401`, async ({ client }) => {
      assertProblem(
        await client.post('/api/v1/auth/refresh').json({ refreshToken }),
        401,
        'invalid_refresh_token'
      )
    })
  }

  test('a missing refresh token → 422', async ({ client }) => {
    assertProblem(await client.post('/api/v1/auth/refresh').json({}), 422, 'validation_failed')
  })
})

test.group('identity: switch tenant', (group) => {
  group.each.setup(() => resetIdentity())

  test('switches to another tenant the user belongs to and ends the old session', async ({
    client,
    assert,
  }) => {
    const alice = await registerUser(client)
    const bob = await registerUser(client)
    await db.table('identity_memberships').insert({
      id: crypto.randomUUID(),
      tenant_id: bob.activeTenantId,
      user_id: alice.user.id,
      role: 'agent',
    })

    const switched = await client
      .post('/api/v1/auth/switch-tenant')
      .bearerToken(alice.tokens.accessToken)
      .json({ tenantId: bob.activeTenantId })
    switched.assertStatus(200)
    assertMatchesOpenApi(switched, 'POST', '/api/v1/auth/switch-tenant')
    assert.equal(switched.body().activeTenantId, bob.activeTenantId)
    assert.deepEqual(switched.body().roles, ['agent'])

    const me = await client.get('/api/v1/auth/me').bearerToken(switched.body().tokens.accessToken)
    assert.equal(me.body().activeTenantId, bob.activeTenantId)
    assertMatchesOpenApi(me, 'GET', '/api/v1/auth/me')
    // Oldest first, each with its tenant's name; Bob's own list is untouched by Alice joining.
    assert.deepEqual(
      me
        .body()
        .memberships.map((entry: { tenantId: string; role: string }) => [
          entry.tenantId,
          entry.role,
        ]),
      [
        [alice.activeTenantId, 'owner'],
        [bob.activeTenantId, 'agent'],
      ]
    )
    assert.isString(me.body().memberships[1].tenantName)
    assert.isString(me.body().memberships[1].tenantSlug)
    const bobsMe = await client.get('/api/v1/auth/me').bearerToken(bob.tokens.accessToken)
    assert.lengthOf(bobsMe.body().memberships, 1)

    const oldRefresh = await client
      .post('/api/v1/auth/refresh')
      .json({ refreshToken: alice.tokens.refreshToken })
    assertProblem(oldRefresh, 401, 'invalid_refresh_token')
  })

  test('a tenant the user does not belong to → 404, and a malformed id → 422', async ({
    client,
  }) => {
    const alice = await registerUser(client)
    const bob = await registerUser(client)
    const foreign = await client
      .post('/api/v1/auth/switch-tenant')
      .bearerToken(alice.tokens.accessToken)
      .json({ tenantId: bob.activeTenantId })
    assertProblem(foreign, 404, 'tenant_not_found')
    const malformed = await client
      .post('/api/v1/auth/switch-tenant')
      .bearerToken(alice.tokens.accessToken)
      .json({ tenantId: 'not-a-uuid' })
    assertProblem(malformed, 422, 'validation_failed')
  })
})
