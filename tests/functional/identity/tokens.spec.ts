import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import {
  SignJWT,
  createLocalJWKSet,
  jwtVerify,
  base64url,
  generateKeyPair,
  decodeProtectedHeader,
} from 'jose'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { signingKeys } from '#modules/identity/index'
import { childEnv, runNode } from '#tests/helpers/processes'
import { statementsSentDuring } from '#tests/helpers/sql_spy'

type Claims = Record<string, unknown>

/** Signs with Atrium's real current key, so only the claim under test is wrong. */
async function signWithOurKey(
  claims: Claims,
  options: { expiresIn?: string; audience?: string; issuer?: string } = {}
) {
  const { kid, key } = await signingKeys.current()
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
    .setIssuer(options.issuer ?? 'atrium')
    .setAudience(options.audience ?? 'atrium-api')
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '15m')
    .sign(key)
}

function validClaims(session: { user: { id: string }; activeTenantId: string | null }) {
  return {
    sub: session.user.id,
    tid: session.activeTenantId,
    roles: ['owner'],
    jti: crypto.randomUUID(),
    sid: crypto.randomUUID(),
  }
}

test.group('identity: access token checks', (group) => {
  group.each.setup(() => resetIdentity())

  test('a token we sign correctly is accepted (control for the cases below)', async ({
    client,
  }) => {
    const session = await registerUser(client)
    const token = await signWithOurKey(validClaims(session))
    const me = await client.get('/api/v1/auth/me').bearerToken(token)
    me.assertStatus(200)
  })

  test('no Authorization header → 401 with WWW-Authenticate', async ({ client, assert }) => {
    const response = await client.get('/api/v1/auth/me')
    assertProblem(response, 401, 'unauthenticated')
    assert.include(response.header('www-authenticate') ?? '', 'Bearer')
  })

  const attacks: Array<
    [string, (session: Awaited<ReturnType<typeof registerUser>>) => Promise<string>]
  > = [
    ['garbage', async () => 'not.a.jwt'],
    [
      'a tampered payload',
      async (session) => {
        const [header, , signature] = session.tokens.accessToken.split('.')
        const payload = base64url.encode(
          JSON.stringify({ ...validClaims(session), roles: ['owner', 'superadmin'] })
        )
        return `${header}.${payload}.${signature}`
      },
    ],
    [
      'alg: none',
      async (session) => {
        const { kid } = decodeProtectedHeader(session.tokens.accessToken)
        const header = base64url.encode(JSON.stringify({ alg: 'none', kid, typ: 'at+jwt' }))
        const payload = base64url.encode(
          JSON.stringify({
            ...validClaims(session),
            iss: 'atrium',
            aud: 'atrium-api',
            exp: Math.floor(Date.now() / 1000) + 600,
          })
        )
        return `${header}.${payload}.`
      },
    ],
    [
      'HS256 keyed with our public key',
      async (session) => {
        const { kid } = decodeProtectedHeader(session.tokens.accessToken)
        const jwks = await signingKeys.jwks()
        const secret = new TextEncoder().encode(JSON.stringify(jwks.keys[0]))
        return new SignJWT(validClaims(session))
          .setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' })
          .setIssuer('atrium')
          .setAudience('atrium-api')
          .setExpirationTime('15m')
          .setIssuedAt()
          .sign(secret)
      },
    ],
    [
      'a key that is not ours (same kid)',
      async (session) => {
        const { kid } = decodeProtectedHeader(session.tokens.accessToken)
        const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
        return new SignJWT(validClaims(session))
          .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'at+jwt' })
          .setIssuer('atrium')
          .setAudience('atrium-api')
          .setExpirationTime('15m')
          .setIssuedAt()
          .sign(privateKey)
      },
    ],
    [
      'the wrong audience',
      (session) => signWithOurKey(validClaims(session), { audience: 'someone-else' }),
    ],
    ['the wrong issuer', (session) => signWithOurKey(validClaims(session), { issuer: 'evil' })],
    ['an expired token', (session) => signWithOurKey(validClaims(session), { expiresIn: '-1s' })],
    [
      'a subject that is not a uuid',
      (session) => signWithOurKey({ ...validClaims(session), sub: 'admin' }),
    ],
    [
      'a user that does not exist',
      (session) => signWithOurKey({ ...validClaims(session), sub: crypto.randomUUID() }),
    ],
    [
      'roles that are not a list',
      (session) => signWithOurKey({ ...validClaims(session), roles: 'owner' }),
    ],
  ]
  for (const [label, forge] of attacks) {
    test(`${label} → 401`, async ({ client }) => {
      const session = await registerUser(client)
      const token = await forge(session)
      assertProblem(await client.get('/api/v1/auth/me').bearerToken(token), 401, 'unauthenticated')
    })
  }

  test('a non-Bearer scheme → 401', async ({ client }) => {
    const session = await registerUser(client)
    const response = await client
      .get('/api/v1/auth/me')
      .header('authorization', `Basic ${session.tokens.accessToken}`)
    assertProblem(response, 401, 'unauthenticated')
  })
})

test.group('identity: JWKS and key rotation', (group) => {
  group.each.setup(() => resetIdentity())

  test('JWKS publishes the key, and a split-out service can verify tokens with it alone', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client)
    const response = await client.get('/.well-known/jwks.json')
    response.assertStatus(200)
    assertMatchesOpenApi(response, 'GET', '/.well-known/jwks.json')
    assert.notProperty(response.body().keys[0], 'd', 'private key material must never be published')

    const { payload } = await jwtVerify(
      session.tokens.accessToken,
      createLocalJWKSet(response.body()),
      {
        issuer: 'atrium',
        audience: 'atrium-api',
      }
    )
    assert.equal(payload.sub, session.user.id)
  })

  test('the private key is stored encrypted', async ({ client, assert }) => {
    await registerUser(client)
    const row = await db.from('identity_signing_keys').firstOrFail()
    assert.notInclude(row.private_jwk_encrypted, '"d"')
    assert.notProperty(row.public_jwk, 'd')
  })

  test('rotation: old tokens keep working until their grace period ends; new tokens use the new key', async ({
    client,
    assert,
  }) => {
    const before = await registerUser(client)
    const oldKid = decodeProtectedHeader(before.tokens.accessToken).kid

    const rotation = await runNode(['ace.js', 'identity:rotate-keys'], childEnv({}))
    assert.equal(rotation.code, 0, rotation.stderr)
    signingKeys.forget()

    const stillValid = await client.get('/api/v1/auth/me').bearerToken(before.tokens.accessToken)
    stillValid.assertStatus(200)
    const after = await registerUser(client)
    const newKid = decodeProtectedHeader(after.tokens.accessToken).kid
    assert.notEqual(newKid, oldKid)
    const jwks = await client.get('/.well-known/jwks.json')
    assert.sameMembers(
      jwks.body().keys.map((key: { kid: string }) => key.kid),
      [oldKid, newKid]
    )

    // Past the grace period the retired key disappears and its tokens fail.
    await db
      .from('identity_signing_keys')
      .where('kid', oldKid!)
      .update({ verify_until: new Date(Date.now() - 1000) })
    signingKeys.forget()
    assertProblem(
      await client.get('/api/v1/auth/me').bearerToken(before.tokens.accessToken),
      401,
      'unauthenticated'
    )
    const newToken = await client.get('/api/v1/auth/me').bearerToken(after.tokens.accessToken)
    newToken.assertStatus(200)
  })

  test('a signing key unreadable after an APP_KEY change is retired and replaced, not a 500', async ({
    client,
    assert,
  }) => {
    const before = await registerUser(client)
    const oldKid = decodeProtectedHeader(before.tokens.accessToken).kid!
    // What a different APP_KEY looks like from here: ciphertext this key cannot open.
    await db
      .from('identity_signing_keys')
      .where('kid', oldKid)
      .update({ private_jwk_encrypted: 'gcm.not.our.key' })
    signingKeys.forget()

    const after = await registerUser(client)
    assert.notEqual(decodeProtectedHeader(after.tokens.accessToken).kid, oldKid)
    const me = await client.get('/api/v1/auth/me').bearerToken(before.tokens.accessToken)
    me.assertStatus(200)
    const retired = await db.from('identity_signing_keys').where('kid', oldKid).firstOrFail()
    assert.isNotNull(retired.retired_at)
    const [audit] = await db.from('identity_audit_events').where('event', 'keys.rotated')
    assert.equal(audit.details.reason, 'undecryptable')
  })
})

test.group('identity: forged key ids', (group) => {
  group.each.setup(() => resetIdentity())

  test('tokens naming unknown keys are refused and re-read the key set at most once a second', async ({
    client,
    assert,
  }) => {
    const session = await registerUser(client)
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' })
    const forge = () =>
      new SignJWT(validClaims(session))
        .setProtectedHeader({ alg: 'EdDSA', kid: crypto.randomUUID(), typ: 'at+jwt' })
        .setIssuer('atrium')
        .setAudience('atrium-api')
        .setExpirationTime('15m')
        .setIssuedAt()
        .sign(privateKey)
    const forged = await Promise.all(Array.from({ length: 30 }, forge))
    const statuses: number[] = []
    const sent = await statementsSentDuring(async () => {
      for (const token of forged) {
        const response = await client.get('/api/v1/auth/me').bearerToken(token)
        statuses.push(response.status())
      }
    })
    assert.deepEqual(statuses, Array(30).fill(401))
    const keyReads = sent.filter((sql) => sql.includes('identity_signing_keys'))
    assert.isAtMost(keyReads.length, 1, 'thirty forged kids, at most one key read')
    // The real token still works: the limit holds unknown kids back, not known ones.
    const me = await client.get('/api/v1/auth/me').bearerToken(session.tokens.accessToken)
    me.assertStatus(200)
  })
})
