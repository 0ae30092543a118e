import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { PASSWORD, registerUser, resetIdentity } from '#tests/helpers/identity'
import { codeIn, waitForMail } from '#tests/helpers/mail'

test.group('email verification', (group) => {
  group.each.setup(() => resetIdentity())

  test('registration mails a code; the code verifies the address once', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client, {}, { verified: false })
    assert.isFalse(session.user.emailVerified)
    const [mail] = await waitForMail(session.user.email)
    assert.include(mail, 'Subject: Confirm your email address')
    const code = codeIn(mail, 'atr_ev_')

    const verified = await client.post('/api/v1/auth/verify-email').json({ token: code })
    verified.assertStatus(200)
    assertMatchesOpenApi(verified, 'POST', '/api/v1/auth/verify-email')
    assert.deepEqual(verified.body(), { email: session.user.email, emailVerified: true })
    const me = await client.get('/api/v1/auth/me').bearerToken(session.tokens.accessToken)
    assert.isTrue(me.body().user.emailVerified)

    assertProblem(
      await client.post('/api/v1/auth/verify-email').json({ token: code }),
      404,
      'verification_not_found'
    )
    assertProblem(
      await client.post('/api/v1/auth/verify-email').json({ token: 'atr_ev_made-up' }),
      404,
      'verification_not_found'
    )
  })

  test('an address someone else registered is invited, not added: only its mailbox can join', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    // The squatter registers the victim's address first, without access to its mailbox.
    const squatter = await registerUser(
      client,
      { email: 'victim@corp.example', password: PASSWORD, tenantName: undefined },
      { verified: false }
    )
    const added = await client
      .post(`/api/v1/tenants/${owner.activeTenantId}/members`)
      .bearerToken(owner.tokens.accessToken)
      .json({ email: 'victim@corp.example', role: 'admin' })
    added.assertStatus(202)
    assertMatchesOpenApi(added, 'POST', `/api/v1/tenants/${owner.activeTenantId}/members`)
    assert.equal(added.body().invitation.email, 'victim@corp.example')
    assert.notProperty(added.body().invitation, 'token')

    const memberships = await db
      .from('identity_memberships')
      .where({ tenant_id: owner.activeTenantId, user_id: squatter.user.id })
    assert.lengthOf(memberships, 0)
    assertProblem(
      await client
        .get(`/api/v1/tenants/${owner.activeTenantId}`)
        .bearerToken(squatter.tokens.accessToken),
      404,
      'tenant_not_found'
    )
    // The invitation went to the address itself.
    const mails = await waitForMail('victim@corp.example', 2)
    assert.isTrue(mails.some((text) => text.includes('You are invited to')))
  })

  test('a verified account is added at once, as before', async ({ client }) => {
    const owner = await registerUser(client)
    const member = await registerUser(client, { tenantName: undefined })
    const added = await client
      .post(`/api/v1/tenants/${owner.activeTenantId}/members`)
      .bearerToken(owner.tokens.accessToken)
      .json({ email: member.user.email, role: 'member' })
    added.assertStatus(201)
  })

  test('resend: a new code for an unverified address; 409 once verified', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client, {}, { verified: false })
    await waitForMail(session.user.email)
    const resent = await client
      .post('/api/v1/auth/verify-email/resend')
      .bearerToken(session.tokens.accessToken)
    resent.assertStatus(202)
    assertMatchesOpenApi(resent, 'POST', '/api/v1/auth/verify-email/resend')
    const mails = await waitForMail(session.user.email, 2)
    const codes = mails.map((mail) => codeIn(mail, 'atr_ev_'))
    assert.notEqual(codes[0], codes[1])
    // Either code works (each once); the resent one is as good as the first.
    const verified = await client.post('/api/v1/auth/verify-email').json({ token: codes[1] })
    verified.assertStatus(200)

    assertProblem(
      await client.post('/api/v1/auth/verify-email/resend').bearerToken(session.tokens.accessToken),
      409,
      'already_verified'
    )
  })
})
