import { test } from '@japa/runner'
import type { ApiClient } from '@japa/api-client'
import router from '@adonisjs/core/services/router'
import { newId } from '#app/platform/ids'
import { FIXTURE_PREFIX } from '#tests/fixtures/routes'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { resetOrders } from '#tests/helpers/orders'
import { createKey, resetGateway } from '#tests/helpers/gateway'
import { drainBus } from '#tests/helpers/waiting'
import db from '@adonisjs/lucid/services/db'

interface RouteJson {
  pattern: string
  methods: string[]
}

type Session = Awaited<ReturnType<typeof registerUser>>

/**
 * Routes that act on the caller as a user rather than inside a tenant: a
 * removed member keeps these (their account is theirs), so they are not
 * probed here. Superadmin routes are tested in identity/admin.spec.ts.
 */
const USER_LEVEL = [
  /^\/api\/v1\/auth\//,
  /^\/api\/v1\/invitations\/accept$/,
  /^\/api\/v1\/admin\//,
  /^\/api\/v1\/tenants$/,
  /^\/api\/v1\/system\//,
]

/** Bodies that pass validation, for the routes that validate before deciding who may. */
const VALID_BODIES: Record<string, Record<string, unknown>> = {
  'POST /api/v1/tenants/:id/members': { email: 'someone@example.com', role: 'member' },
  'PATCH /api/v1/tenants/:id/members/:userId': { role: 'member' },
  'POST /api/v1/tenants/:id/invitations': { email: 'someone@example.com', role: 'member' },
  'PATCH /api/v1/tenants/:id': { name: 'Renamed' },
}

function tenantRoutes() {
  const routes = Object.values(router.toJSON()).flat() as RouteJson[]
  return routes
    .filter((route) => route.pattern.startsWith('/api/v1/'))
    .filter((route) => !route.pattern.startsWith(FIXTURE_PREFIX))
    .filter((route) => !USER_LEVEL.some((pattern) => pattern.test(route.pattern)))
    .flatMap((route) =>
      route.methods
        .filter((method) => method !== 'HEAD')
        .map((method) => ({ method, pattern: route.pattern }))
    )
}

function call(
  client: ApiClient,
  route: { method: string; pattern: string },
  token: string,
  owner: Session
) {
  const url = route.pattern
    .replace(':id', route.pattern.startsWith('/api/v1/tenants/') ? owner.activeTenantId! : newId())
    .replace(':userId', owner.user.id)
    .replace(':invitationId', newId())
    .replace(':sku', 'NO-SUCH-SKU')
    .replace(/:[A-Za-z]+/g, () => newId())
  const request = client
    .request(url, route.method as 'GET')
    .bearerToken(token)
    .header('idempotency-key', newId())
  const body = VALID_BODIES[`${route.method} ${route.pattern}`]
  return ['GET', 'DELETE'].includes(route.method) ? request : request.json(body ?? {})
}

async function changeRole(client: ApiClient, owner: Session, userId: string, role: string) {
  const response = await client
    .patch(`/api/v1/tenants/${owner.activeTenantId}/members/${userId}`)
    .bearerToken(owner.tokens.accessToken)
    .json({ role })
  response.assertStatus(200)
}

test.group('authorization reads the membership live, on every tenant route', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
  })

  test('a demoted admin gets 403 and a removed member 404 on the very next request', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const member = await joinAs(client, owner, 'member')
    const admin = await joinAs(client, owner, 'admin')
    const routes = tenantRoutes()

    // Which routes need more than membership: the ones a live member is refused.
    const adminOnly: typeof routes = []
    for (const route of routes) {
      const response = await call(client, route, member.token, owner)
      if (response.status() === 403) adminOnly.push(route)
    }
    const names = adminOnly.map((route) => `${route.method} ${route.pattern}`)
    for (const known of [
      'POST /api/v1/gateway/keys',
      'PATCH /api/v1/gateway/providers/:id',
      'POST /api/v1/webhooks',
      'POST /api/v1/orders/:id/cancel',
      'POST /api/v1/inventory/items',
      'GET /api/v1/tenants/:id/invitations',
      'POST /api/v1/tenants/:id/members',
    ]) {
      assert.include(names, known, `${known} should need more than membership`)
    }

    // The admin's token was issued while they were admin; demote them, keep the token.
    await changeRole(client, owner, admin.user.user.id, 'member')
    const stillAllowed: string[] = []
    for (const route of adminOnly) {
      const response = await call(client, route, admin.token, owner)
      if (response.status() !== 403)
        stillAllowed.push(`${route.method} ${route.pattern} → ${response.status()}`)
    }
    assert.deepEqual(stillAllowed, [], 'a demoted admin kept admin rights')

    // Removed: every tenant route answers 404, as for a tenant that does not exist.
    const removed = await client
      .delete(`/api/v1/tenants/${owner.activeTenantId}/members/${admin.user.user.id}`)
      .bearerToken(owner.tokens.accessToken)
    removed.assertStatus(204)
    const reachable: string[] = []
    for (const route of routes) {
      const response = await call(client, route, admin.token, owner)
      if (response.status() !== 404)
        reachable.push(`${route.method} ${route.pattern} → ${response.status()}`)
    }
    assert.deepEqual(reachable, [], 'a removed member still reached the tenant')
    assert.isAbove(routes.length, 30)
  }).timeout(120_000)

  test('a member promoted to admin may act as admin at once, with the same token', async ({
    client,
  }) => {
    const owner = await registerUser(client)
    const member = await joinAs(client, owner, 'member')
    const before = await client
      .post('/api/v1/webhooks')
      .bearerToken(member.token)
      .json({ url: 'https://example.com/hook', eventTypes: ['orders.order_confirmed'] })
    before.assertStatus(403)
    await changeRole(client, owner, member.user.user.id, 'admin')
    const after = await client.get('/api/v1/webhooks').bearerToken(member.token)
    after.assertStatus(200)
  })
})

test.group('a departed member’s API keys stop working', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetGateway()
  })

  test('keys a removed admin created, or that act for them, are revoked; others keep working', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const admin = await joinAs(client, owner, 'admin')
    const theirs = await createKey(client, {
      ...owner,
      tokens: { ...owner.tokens, accessToken: admin.token },
    })
    const forThem = await createKey(client, owner, {
      name: 'acts for admin',
      userId: admin.user.user.id,
    })
    const ownersOwn = await createKey(client, owner)

    const removed = await client
      .delete(`/api/v1/tenants/${owner.activeTenantId}/members/${admin.user.user.id}`)
      .bearerToken(owner.tokens.accessToken)
    removed.assertStatus(204)
    await drainBus()

    const states = await db
      .from('gateway_keys')
      .whereIn('id', [theirs.id, forThem.id, ownersOwn.id])
      .select('id', 'revoked_at', 'created_by')
    const byId = Object.fromEntries(states.map((row) => [row.id, row]))
    assert.isNotNull(byId[theirs.id].revoked_at)
    assert.equal(byId[theirs.id].created_by, admin.user.user.id)
    assert.isNotNull(byId[forThem.id].revoked_at)
    assert.isNull(byId[ownersOwn.id].revoked_at)

    const refused = await client.get('/v1/models').bearerToken(theirs.secret)
    refused.assertStatus(401)
    const allowed = await client.get('/v1/models').bearerToken(ownersOwn.secret)
    allowed.assertStatus(200)
  })
})
