import { test } from '@japa/runner'
import { assertProblem } from '#tests/helpers/openapi'
import { registerUser, resetIdentity } from '#tests/helpers/identity'

test.group('a revoked session takes its access tokens along', (group) => {
  group.each.setup(() => resetIdentity())

  test('reusing a refresh token revokes every access token of its session', async ({ client }) => {
    const session = await registerUser(client)
    const refreshed = await client
      .post('/api/v1/auth/refresh')
      .json({ refreshToken: session.tokens.refreshToken })
    refreshed.assertStatus(200)
    const newer = refreshed.body().tokens.accessToken as string
    // Rotation alone revokes nothing: both access tokens of the session still work.
    for (const token of [session.tokens.accessToken, newer]) {
      const me = await client.get('/api/v1/auth/me').bearerToken(token)
      me.assertStatus(200)
    }

    // The used refresh token comes back (stolen): the whole session ends at once.
    const reused = await client
      .post('/api/v1/auth/refresh')
      .json({ refreshToken: session.tokens.refreshToken })
    assertProblem(reused, 401, 'invalid_refresh_token')
    for (const token of [session.tokens.accessToken, newer]) {
      assertProblem(await client.get('/api/v1/auth/me').bearerToken(token), 401, 'unauthenticated')
    }
  })

  test('switching tenant ends the previous session and its access token', async ({ client }) => {
    const session = await registerUser(client)
    const second = await client
      .post('/api/v1/tenants')
      .bearerToken(session.tokens.accessToken)
      .json({ name: 'Second' })
    second.assertStatus(201)
    const switched = await client
      .post('/api/v1/auth/switch-tenant')
      .bearerToken(session.tokens.accessToken)
      .json({ tenantId: second.body().id })
    switched.assertStatus(200)
    const old = await client.get('/api/v1/auth/me').bearerToken(session.tokens.accessToken)
    assertProblem(old, 401, 'unauthenticated')
    const current = await client
      .get('/api/v1/auth/me')
      .bearerToken(switched.body().tokens.accessToken)
    current.assertStatus(200)
  })
})
