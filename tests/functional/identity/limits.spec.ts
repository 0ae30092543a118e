import { test } from '@japa/runner'
import { assertProblem } from '#tests/helpers/openapi'
import { PASSWORD, registerUser, resetIdentity } from '#tests/helpers/identity'
import {
  AUTH_LIMITS,
  SLOW_DOWN_AFTER,
  authLimits,
  loginDelayMs,
} from '#modules/identity/services/auth_limits'

/** Each test speaks from its own documentation-range IP (RFC 5737), through the trusted loopback proxy. */
let ipCounter = 0
function freshIp() {
  ipCounter++
  return `198.51.100.${ipCounter}`
}

test.group('auth abuse limits', (group) => {
  group.each.setup(() => resetIdentity())

  test('five failed logins from one address block that address for that account only', async ({
    client,
    assert,
  }) => {
    const user = await registerUser(client)
    const attacker = freshIp()
    for (let attempt = 0; attempt < AUTH_LIMITS.loginFailuresPerPair.requests; attempt++) {
      const response = await client
        .post('/api/v1/auth/login')
        .header('x-forwarded-for', attacker)
        .json({ email: user.user.email, password: 'wrong password!!' })
      assertProblem(response, 401, 'invalid_credentials')
    }
    const locked = await client
      .post('/api/v1/auth/login')
      .header('x-forwarded-for', attacker)
      .json({ email: user.user.email, password: PASSWORD })
    assertProblem(locked, 429, 'rate_limited')
    assert.isAbove(Number(locked.header('retry-after')), 0)

    // The owner, from anywhere else, is not locked out.
    const owner = await client
      .post('/api/v1/auth/login')
      .header('x-forwarded-for', freshIp())
      .json({ email: user.user.email, password: PASSWORD })
    owner.assertStatus(200)

    const other = await registerUser(client)
    const unaffected = await client
      .post('/api/v1/auth/login')
      .header('x-forwarded-for', attacker)
      .json({ email: other.user.email, password: PASSWORD })
    unaffected.assertStatus(200)
    await authLimits.reset({ email: user.user.email, ip: attacker })
  })

  test('failures spread over many addresses slow the account down but never lock it', async ({
    client,
    assert,
  }) => {
    const user = await registerUser(client)
    // Just past the slow-down threshold, spread so that no address reaches its own block.
    const failures = SLOW_DOWN_AFTER + 1
    const perAddress = AUTH_LIMITS.loginFailuresPerPair.requests - 1
    for (let done = 0; done < failures;) {
      const ip = freshIp()
      for (let attempt = 0; attempt < perAddress && done < failures; attempt++, done++) {
        const response = await client
          .post('/api/v1/auth/login')
          .header('x-forwarded-for', ip)
          .json({ email: user.user.email, password: 'wrong password!!' })
        assertProblem(response, 401, 'invalid_credentials')
      }
    }
    assert.isAbove(failures, SLOW_DOWN_AFTER)
    assert.isAbove(loginDelayMs(failures), 0, 'the account is being slowed down')
    const owner = await client
      .post('/api/v1/auth/login')
      .header('x-forwarded-for', freshIp())
      .json({ email: user.user.email, password: PASSWORD })
    owner.assertStatus(200)
    await authLimits.reset({ email: user.user.email })
  })

  test('an unknown email is limited exactly like a known one', async ({ client }) => {
    const ip = freshIp()
    const email = `ghost.${Date.now()}@example.com`
    for (let attempt = 0; attempt < AUTH_LIMITS.loginFailuresPerPair.requests; attempt++) {
      await client
        .post('/api/v1/auth/login')
        .header('x-forwarded-for', ip)
        .json({ email, password: 'whatever123!' })
    }
    const locked = await client
      .post('/api/v1/auth/login')
      .header('x-forwarded-for', ip)
      .json({ email, password: 'whatever123!' })
    assertProblem(locked, 429, 'rate_limited')
    await authLimits.reset({ email, ip })
  })

  test('a successful login resets the failure count', async ({ client }) => {
    const user = await registerUser(client)
    const ip = freshIp()
    const fail = () =>
      client
        .post('/api/v1/auth/login')
        .header('x-forwarded-for', ip)
        .json({ email: user.user.email, password: 'wrong password!!' })
    for (let attempt = 0; attempt < 4; attempt++) await fail()
    const ok = await client
      .post('/api/v1/auth/login')
      .header('x-forwarded-for', ip)
      .json({ email: user.user.email, password: PASSWORD })
    ok.assertStatus(200)
    for (let attempt = 0; attempt < 4; attempt++)
      assertProblem(await fail(), 401, 'invalid_credentials')
    await authLimits.reset({ email: user.user.email, ip })
  })

  test('one IP trying many emails is cut off after the per-IP limit', async ({
    client,
    assert,
  }) => {
    const ip = freshIp()
    const statuses: number[] = []
    for (let attempt = 0; attempt <= AUTH_LIMITS.loginPerIp.requests; attempt++) {
      const response = await client
        .post('/api/v1/auth/login')
        .header('x-forwarded-for', ip)
        .json({ email: `spray${attempt}@example.com`, password: 'guess guess 1' })
      statuses.push(response.status())
    }
    assert.deepEqual(
      statuses.slice(0, AUTH_LIMITS.loginPerIp.requests),
      Array(AUTH_LIMITS.loginPerIp.requests).fill(401)
    )
    assert.equal(statuses.at(-1), 429)
    await authLimits.reset({ ip })
  })

  test('registration is limited per IP', async ({ client, assert }) => {
    const ip = freshIp()
    const statuses: number[] = []
    for (let attempt = 0; attempt <= AUTH_LIMITS.registerPerIp.requests; attempt++) {
      const response = await client
        .post('/api/v1/auth/register')
        .header('x-forwarded-for', ip)
        .json({
          email: `bulk${attempt}.${Date.now()}@example.com`,
          password: PASSWORD,
          name: 'Bulk',
        })
      statuses.push(response.status())
    }
    assert.equal(
      statuses.filter((status) => status === 201).length,
      AUTH_LIMITS.registerPerIp.requests
    )
    assert.equal(statuses.at(-1), 429)
    await authLimits.reset({ ip })
  })
})
