import db from '@adonisjs/lucid/services/db'
import type { ApiClient } from '@japa/api-client'
import { signingKeys } from '#modules/identity/index'
import { authLimits } from '#modules/identity/services/auth_limits'
import { changeFeed } from '#app/platform/change_feed'
import { PRINCIPALS_CHANNEL } from '#modules/identity/services/principal_cache'
import { newId } from '#app/platform/ids'

export const PASSWORD = 'correct horse battery staple'

/** Every identity table emptied; signing keys too, so each test group starts from a fresh key. */
export async function resetIdentity() {
  await db.rawQuery(
    `TRUNCATE identity_audit_events, identity_memberships, identity_refresh_tokens, identity_revoked_access_tokens,
              identity_email_verifications, identity_users, identity_tenants, identity_signing_keys CASCADE`
  )
  signingKeys.forget()
  for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) await authLimits.reset({ ip })
}

let counter = 0
/**
 * Registers through the API. The account's email is then marked verified
 * (as if its owner had used the mailed code) unless `verified: false`: most
 * tests add users to tenants, which needs a verified address.
 */
export async function registerUser(
  client: ApiClient,
  overrides: Record<string, unknown> = {},
  options: { verified?: boolean } = {}
) {
  counter++
  const response = await client.post('/api/v1/auth/register').json({
    email: `user${counter}.${Date.now()}@example.com`,
    password: PASSWORD,
    name: `User ${counter}`,
    tenantName: `Tenant ${counter}`,
    ...overrides,
  })
  if (response.status() !== 201)
    throw new Error(`register failed: ${response.status()} ${response.text()}`)
  const session = response.body() as {
    user: { id: string; email: string; emailVerified: boolean }
    activeTenantId: string | null
    roles: string[]
    tokens: { accessToken: string; refreshToken: string }
  }
  if (options.verified !== false) await markEmailVerified(session.user.id)
  // The registration's and the verification's NOTIFYs, heard now rather than during the caller's
  // first read: a read that a change overlaps is not cached, and tests assert that reads are.
  await identityChangesHeard()
  return session
}

/**
 * Resolves once this process has heard every identity change committed so
 * far. PostgreSQL delivers a listener's notifications in commit order, so a
 * marker sent now arrives after all of them; its `n:` (a tenant renamed, for
 * a tenant id nobody has) drops nothing. While the feed is not heard nothing
 * is cached, and while a test holds its deliveries none can overlap a read:
 * there is nothing to wait for.
 */
export async function identityChangesHeard() {
  if (!changeFeed.hears(PRINCIPALS_CHANNEL) || changeFeed.holding) return
  const marker = `n:${newId()}`
  const heard = heardIdentityChange(marker)
  await db.rawQuery('SELECT pg_notify(?, ?)', [PRINCIPALS_CHANNEL, marker])
  await heard
}

/**
 * Stands in for the user reading their verification mail (tested for real in
 * security/email_verification.spec.ts): only verified accounts can be added
 * to a tenant by email.
 */
export async function markEmailVerified(userId: string) {
  await db
    .from('identity_users')
    .where('id', userId)
    .update({ email_verified_at: db.raw('now()') })
}

/**
 * A new user added to the owner's active tenant with `role`, switched into
 * it: returns that user and an access token acting in the owner's tenant.
 */
export async function joinAs(
  client: ApiClient,
  owner: Awaited<ReturnType<typeof registerUser>>,
  role: 'admin' | 'agent' | 'member'
) {
  const user = await registerUser(client, { tenantName: undefined })
  await client
    .post(`/api/v1/tenants/${owner.activeTenantId}/members`)
    .bearerToken(owner.tokens.accessToken)
    .json({ email: user.user.email, role })
  const switched = await client
    .post('/api/v1/auth/switch-tenant')
    .bearerToken(user.tokens.accessToken)
    .json({ tenantId: owner.activeTenantId })
  return { user, token: switched.body().tokens.accessToken as string }
}

/** Resolves when the change feed delivers `payload` on the identity channel (the signal, not a sleep). */
export function heardIdentityChange(payload: string) {
  return new Promise<void>((resolve) => {
    const stop = changeFeed.on(PRINCIPALS_CHANNEL, (change) => {
      if (change !== payload) return
      stop()
      resolve()
    })
  })
}
