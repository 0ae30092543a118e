import { test } from '@japa/runner'
import { readdirSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import db from '@adonisjs/lucid/services/db'
import { request } from 'undici'
import env from '#start/env'
import { operatorAccess } from '#app/middleware/operator_only_middleware'
import { addressList } from '#app/platform/address_list'
import { assertProblem } from '#tests/helpers/openapi'
import { PASSWORD, registerUser, resetIdentity } from '#tests/helpers/identity'

const base = () => `http://127.0.0.1:${env.get('PORT')}`

function multipartBody(boundary: string, size: number) {
  return Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\n`
    ),
    Buffer.alloc(size, 0x61),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ])
}

test('X-Forwarded-For is believed only from the proxies TRUST_PROXY names', async ({ assert }) => {
  const none = addressList(undefined, 'TRUST_PROXY')
  assert.isFalse(none.includes('127.0.0.1'), 'nothing is trusted by default')
  const some = addressList('10.0.0.0/8, ::1', 'TRUST_PROXY')
  assert.isTrue(some.includes('10.1.2.3'))
  assert.isTrue(some.includes('::ffff:10.1.2.3'))
  assert.isTrue(some.includes('::1'))
  assert.isFalse(some.includes('127.0.0.1'))
  assert.isFalse(some.includes('11.0.0.1'))
  assert.throws(() => addressList('not-an-address', 'TRUST_PROXY'), /TRUST_PROXY/)
})

test.group('HTTP hardening', (group) => {
  group.each.setup(() => resetIdentity())

  test('multipart bodies are refused with 415 and leave no temporary files', async ({ assert }) => {
    const before = new Set(readdirSync(tmpdir()))
    for (let attempt = 0; attempt < 3; attempt++) {
      const boundary = `atrium${attempt}`
      const response = await request(`${base()}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
        body: multipartBody(boundary, 512 * 1024),
      })
      assert.equal(response.statusCode, 415)
      const problem = (await response.body.json()) as { code: string }
      assert.equal(problem.code, 'unsupported_media_type')
    }
    const added = readdirSync(tmpdir()).filter((name) => !before.has(name))
    assert.deepEqual(added, [], 'files appeared in the temporary folder')
  })

  test('a NUL character in any string is a 422 naming the field, and changes nothing', async ({
    client,
    assert,
  }) => {
    const registered = await client.post('/api/v1/auth/register').json({
      email: 'nul@example.com',
      password: PASSWORD,
      name: 'Mal\u0000lory',
    })
    assertProblem(registered, 422, 'validation_failed')
    assert.deepEqual(registered.body().errors, [
      { field: 'name', rule: 'noNul', message: 'Must not contain a NUL character' },
    ])
    // The same in a form body (%00), and in a JSON key.
    const form = await client
      .post('/api/v1/auth/register')
      .form({ email: 'nul@example.com', password: PASSWORD, name: 'Mal\u0000lory' })
    assertProblem(form, 422, 'validation_failed')
    assert.equal(form.body().errors[0].field, 'name')
    const inKey = await client
      .post('/api/v1/auth/register')
      .json({ 'email': 'nul@example.com', 'password': PASSWORD, 'name': 'M', 'x\u0000': 1 })
    assertProblem(inKey, 422, 'validation_failed')
    assert.equal(inKey.body().errors[0].field, 'x\\0')
    const users = await db.from('identity_users').count('* as n').first()
    assert.equal(Number(users.n), 0)

    const owner = await registerUser(client)
    const nested = await client
      .post('/api/v1/orders')
      .bearerToken(owner.tokens.accessToken)
      .header('idempotency-key', 'nul-1')
      .json({ lines: [{ sku: 'A\u0000', quantity: 1 }], customerEmail: 'a@example.com' })
    assertProblem(nested, 422, 'validation_failed')
    assert.equal(nested.body().errors[0].field, 'lines.0.sku')

    const query = await client
      .get('/api/v1/orders')
      .qs({ customer: 'x\u0000y' })
      .bearerToken(owner.tokens.accessToken)
    assertProblem(query, 422, 'validation_failed')
    assert.equal(query.body().errors[0].field, 'customer')
  })

  test('security headers on every answer; /docs gets a CSP that lets it render offline', async ({
    client,
    assert,
  }) => {
    for (const path of ['/health/live', '/api/v1/no-such-route', '/openapi.json']) {
      const response = await client.get(path)
      assert.equal(response.header('x-content-type-options'), 'nosniff', path)
      assert.equal(response.header('referrer-policy'), 'no-referrer', path)
      assert.equal(response.header('x-frame-options'), 'DENY', path)
      assert.include(response.header('content-security-policy'), "frame-ancestors 'none'", path)
      assert.include(response.header('content-security-policy'), "default-src 'none'", path)
    }
    const docs = await client.get('/docs')
    const csp = docs.header('content-security-policy') as string
    assert.include(csp, "script-src 'self'")
    assert.include(csp, "style-src 'self' 'unsafe-inline'")
    assert.include(csp, "connect-src 'self'")
    // The page loads nothing from elsewhere, so 'self' is all it needs.
    assert.notMatch(docs.text(), /https?:\/\//)
  })

  test('no cache may keep an answer — tokens, a profile, an error — unless the route makes it public', async ({
    client,
    assert,
  }) => {
    const email = `cache.${Date.now()}@example.com`
    const session = await registerUser(client, { email })
    const login = await client.post('/api/v1/auth/login').json({ email, password: PASSWORD })
    assert.equal(login.status(), 200)
    assert.properties(login.body().tokens, ['accessToken', 'refreshToken'])
    const me = await client.get('/api/v1/auth/me').bearerToken(session.tokens.accessToken)
    const refused = await client.get('/api/v1/auth/me').bearerToken('not-a-token')
    assert.equal(refused.status(), 401)
    const missing = await client.get('/api/v1/no-such-route')
    for (const [name, response] of Object.entries({ login, me, refused, missing })) {
      assert.equal(response.header('cache-control'), 'no-store', name)
    }
    // Public by design: the signing keys clients verify tokens with, and /docs' own scripts.
    const jwks = await client.get('/.well-known/jwks.json')
    assert.equal(jwks.header('cache-control'), 'public, max-age=300')
    const asset = await client.get('/docs/assets/swagger-ui.css')
    assert.equal(asset.status(), 200)
    assert.equal(asset.header('cache-control'), 'public, max-age=86400')
  })

  test('a request whose body trickles in is cut after HTTP_REQUEST_TIMEOUT_SECONDS', async ({
    assert,
  }) => {
    const limitSeconds = env.get('HTTP_REQUEST_TIMEOUT_SECONDS')!
    const socket = net.connect(Number(env.get('PORT')), '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    const started = Date.now()
    socket.write(
      'POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{'
    )
    const trickle = setInterval(() => socket.write(' '), 500)
    let answer = ''
    socket.on('data', (chunk) => (answer += chunk))
    await new Promise((resolve) => socket.once('close', resolve))
    clearInterval(trickle)
    const seconds = (Date.now() - started) / 1000
    assert.isAtLeast(seconds, limitSeconds - 0.5)
    assert.isBelow(seconds, limitSeconds + 10, 'the slow request was not cut')
    assert.match(answer, /^HTTP\/1\.1 408/)
  }).timeout(30_000)

  test('/metrics and system info need the operator token or an allowed address', async ({
    client,
    cleanup,
  }) => {
    const saved = { token: operatorAccess.token, allow: operatorAccess.allow }
    cleanup(() => {
      Object.assign(operatorAccess, saved)
    })
    Object.assign(operatorAccess, { token: 'metrics-secret-1', allow: addressList('', 'test') })

    assertProblem(await client.get('/metrics'), 403, 'operator_only')
    assertProblem(await client.get('/api/v1/system/info'), 403, 'operator_only')
    assertProblem(await client.get('/metrics').bearerToken('wrong-secret'), 403, 'operator_only')
    const scraped = await client.get('/metrics').bearerToken('metrics-secret-1')
    scraped.assertStatus(200)
    const info = await client.get('/api/v1/system/info').bearerToken('metrics-secret-1')
    info.assertStatus(200)

    // From an allowed address no token is needed (this test calls from loopback).
    operatorAccess.allow = addressList('127.0.0.1, ::1', 'test')
    const local = await client.get('/metrics')
    local.assertStatus(200)
    // The test environment trusts loopback as a proxy (TRUST_PROXY): the forwarded
    // address is the caller's, and it is not an allowed one.
    operatorAccess.allow = addressList('203.0.113.7', 'test')
    assertProblem(
      await client.get('/metrics').header('x-forwarded-for', '198.51.100.9'),
      403,
      'operator_only'
    )
    const forwarded = await client.get('/metrics').header('x-forwarded-for', '203.0.113.7')
    forwarded.assertStatus(200)
  })
})
