import hash from '@adonisjs/core/services/hash'
import db from '@adonisjs/lucid/services/db'
import Membership, { type MembershipRole } from '#modules/identity/models/membership'
import Tenant from '#modules/identity/models/tenant'
import User from '#modules/identity/models/user'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { columnList } from '#app/platform/columns'
import { ProblemException } from '#app/http/problem'
import { newId } from '#app/platform/ids'
import { tenancy } from '#app/tenancy/tenancy'
import type { Principal } from '#app/auth/jwt_guard'
import { tokens, type TokenPair } from '#modules/identity/services/tokens'
import { recordAudit } from '#modules/identity/services/audit'
import { tenantSlug } from '#modules/identity/services/slugs'
import { emailVerification } from '#modules/identity/services/email_verification'
import { identityMail } from '#modules/identity/services/identity_mail'
import { profileCache, type Profile } from '#modules/identity/services/profile_cache'

export type { MembershipRole }

/** An account as the API shows it (User serialized). */
export type UserView = ReturnType<User['serialize']>

export interface MembershipView {
  tenantId: string
  tenantName: string
  tenantSlug: string
  role: MembershipRole
}

export interface SessionView {
  user: UserView
  activeTenantId: string | null
  roles: string[]
  tokens: TokenPair
}

/** Verified against when the email is unknown, so both failures cost the same scrypt work. */
let dummyHash: string | undefined
async function timingDummy() {
  dummyHash ??= await hash.make('atrium-timing-equaliser')
  return dummyHash
}

const invalidCredentials = () =>
  new ProblemException(401, 'invalid_credentials', 'The email or password is incorrect.')
const invalidRefresh = () =>
  new ProblemException(
    401,
    'invalid_refresh_token',
    'The refresh token is invalid, expired or revoked; log in again.'
  )
const tenantNotFound = () => new ProblemException(404, 'tenant_not_found', 'No such tenant.')

export function normalizeEmail(email: string) {
  return email.trim().toLowerCase()
}

/** GET /auth/me's read: the user (404 once deleted) and their memberships. */
async function readProfile(userId: string): Promise<Profile> {
  const [row] = await tenancy.read<Record<string, unknown>>({ userId }, meStatement(), [userId], {
    prepared: true,
  })
  const user = row ? User.$createFromAdapterResult(row) : null
  if (!user) throw new ProblemException(404, 'user_not_found', 'No such user.')
  return {
    user: user.serialize(),
    isSuperadmin: user.isSuperadmin,
    memberships: user.$extras.memberships as MembershipView[],
  }
}

function rolesFor(user: Pick<User, 'isSuperadmin'>, membershipRole: string | null) {
  return [...(membershipRole ? [membershipRole] : []), ...(user.isSuperadmin ? ['superadmin'] : [])]
}

async function membershipsOf(
  trx: TransactionClientContract,
  userId: string
): Promise<MembershipView[]> {
  // One joined read (a preload would be a second round trip on every /auth/me).
  const rows: Array<{ tenant_id: string; name: string; slug: string; role: MembershipRole }> =
    await trx
      .from('identity_memberships as m')
      .join('identity_tenants as t', 't.id', 'm.tenant_id')
      .where('m.user_id', userId)
      .orderBy('m.created_at', 'asc')
      .select('m.tenant_id', 't.name', 't.slug', 'm.role')
  return rows.map((row) => ({
    tenantId: row.tenant_id,
    tenantName: row.name,
    tenantSlug: row.slug,
    role: row.role,
  }))
}

function isUniqueViolation(error: unknown, constraint: string) {
  const { code, constraint: name } = error as { code?: string; constraint?: string }
  return code === '23505' && name === constraint
}

/** GET /auth/me's read, its user columns named (a prepared statement must not use `*`). */
let meSql: string | undefined
function meStatement() {
  return (meSql ??= `SELECT ${columnList(User, 'u')},
              (SELECT coalesce(json_agg(json_build_object(
                        'tenantId', m.tenant_id, 'tenantName', t.name,
                        'tenantSlug', t.slug, 'role', m.role) ORDER BY m.created_at), '[]')
                 FROM identity_memberships m JOIN identity_tenants t ON t.id = m.tenant_id
                WHERE m.user_id = u.id) AS memberships
         FROM identity_users u
        WHERE u.id = $1`)
}

export const accounts = {
  async register(input: {
    email: string
    password: string
    name: string
    tenantName?: string
  }): Promise<SessionView> {
    const userId = newId()
    const user = new User().merge({
      id: userId,
      email: normalizeEmail(input.email),
      name: input.name,
      passwordHash: await hash.make(input.password),
      isSuperadmin: false,
      emailVerifiedAt: null,
      disabledAt: null,
    })
    const tenantId = input.tenantName ? newId() : null

    try {
      const work = async (trx: TransactionClientContract) => {
        await user.useTransaction(trx).save()
        if (tenantId) {
          await Tenant.create(
            { id: tenantId, name: input.tenantName!, slug: tenantSlug(input.tenantName!) },
            { client: trx }
          )
          await Membership.create({ id: newId(), tenantId, userId, role: 'owner' }, { client: trx })
        }
        const roles = rolesFor(user, tenantId ? 'owner' : null)
        const pair = await tokens.issuePair(trx, { userId, tenantId, roles })
        const verificationToken = await emailVerification.issue(trx, user)
        return {
          session: { user: user.serialize(), activeTenantId: tenantId, roles, tokens: pair },
          verificationToken,
        }
      }
      const { session, verificationToken } = tenantId
        ? await tenancy.run(tenantId, work, { userId })
        : await tenancy.runAsUser(userId, work)
      // After the commit: a rolled-back registration mails nothing.
      await identityMail.verification(user.email, user.name, verificationToken)
      return session
    } catch (error) {
      if (isUniqueViolation(error, 'identity_users_email_unique')) {
        throw new ProblemException(409, 'email_taken', 'An account with this email already exists.')
      }
      throw error
    }
  },

  async login(input: { email: string; password: string; tenantId?: string }): Promise<SessionView> {
    const user = await User.findBy('email', normalizeEmail(input.email))
    const passwordOk = user
      ? await hash.verify(user.passwordHash, input.password)
      : await hash.verify(await timingDummy(), input.password).then(() => false)
    if (!user || !passwordOk || user.disabledAt) {
      await recordAudit('login.failed', {
        subjectUserId: user?.id ?? null,
        details: {
          email: normalizeEmail(input.email),
          reason: !user ? 'unknown_email' : user.disabledAt ? 'disabled' : 'wrong_password',
        },
      })
      throw invalidCredentials()
    }

    if (hash.needsReHash(user.passwordHash)) {
      user.passwordHash = await hash.make(input.password)
      await user.save()
    }
    const session = await tenancy.runAsUser(user.id, async (trx) => {
      const memberships = await membershipsOf(trx, user.id)
      const active = input.tenantId
        ? memberships.find((membership) => membership.tenantId === input.tenantId)
        : memberships[0]
      if (input.tenantId && !active) throw tenantNotFound()
      const roles = rolesFor(user, active?.role ?? null)
      const pair = await tokens.issuePair(trx, {
        userId: user.id,
        tenantId: active?.tenantId ?? null,
        roles,
      })
      return {
        user: user.serialize(),
        activeTenantId: active?.tenantId ?? null,
        roles,
        tokens: pair,
      }
    })
    await recordAudit('login.succeeded', { tenantId: session.activeTenantId, actorUserId: user.id })
    return session
  },

  /** Rotates a refresh token; roles are re-read, so a role change applies from the next refresh. */
  async refresh(
    presented: string
  ): Promise<{ activeTenantId: string | null; roles: string[]; tokens: TokenPair }> {
    const outcome = await db.transaction(async (trx) => {
      const consumed = await tokens.consumeRefreshToken(trx, presented)
      if (!consumed.ok) {
        if (consumed.reason === 'reused') {
          // A used token came back: it leaked. The family is revoked in this same transaction.
          await recordAudit(
            'refresh.reused',
            {
              tenantId: consumed.tenantId,
              subjectUserId: consumed.userId,
              details: { familyId: consumed.familyId },
            },
            trx
          )
        }
        return consumed
      }
      const user = await User.find(consumed.userId, { client: trx })
      if (!user || user.disabledAt) return { ok: false as const, reason: 'revoked' as const }

      await tenancy.enter(trx, { userId: user.id })
      const memberships = await membershipsOf(trx, user.id)
      const active =
        memberships.find((membership) => membership.tenantId === consumed.tenantId) ?? null
      const roles = rolesFor(user, active?.role ?? null)
      const pair = await tokens.issuePair(
        trx,
        { userId: user.id, tenantId: active?.tenantId ?? null, roles },
        consumed.familyId
      )
      return { ok: true as const, activeTenantId: active?.tenantId ?? null, roles, tokens: pair }
    })
    if (!outcome.ok) throw invalidRefresh()
    return { activeTenantId: outcome.activeTenantId, roles: outcome.roles, tokens: outcome.tokens }
  },

  /** Ends the session: its refresh-token family is revoked and this access token denied until it expires. */
  async logout(principal: Principal) {
    await db.transaction(async (trx) => {
      await tokens.revokeFamily(trx, principal.sessionId)
      await tokens.denyAccessToken(trx, principal.tokenId, principal.expiresAt)
    })
  },

  async me(principal: Principal) {
    // Runs on every app start-up and tab: served from memory once read (profile_cache.ts);
    // otherwise the user and their memberships in one statement, sent with the role and
    // settings in one round trip (tenancy.read), prepared once per connection — planning
    // it cost PostgreSQL more than running it.
    const profile = await profileCache.read(principal.userId, () => readProfile(principal.userId))
    return {
      user: profile.user,
      activeTenantId: principal.tenantId,
      roles: rolesFor(profile, principal.membership?.role ?? null),
      memberships: profile.memberships,
    }
  },

  /** A new session bound to another tenant the user belongs to; the current session ends. */
  async switchTenant(principal: Principal, tenantId: string): Promise<SessionView> {
    return tenancy.runAsUser(principal.userId, async (trx) => {
      const user = await User.findOrFail(principal.userId, { client: trx })
      const memberships = await membershipsOf(trx, user.id)
      const membership = memberships.find((entry) => entry.tenantId === tenantId)
      if (!membership) throw tenantNotFound()
      await tokens.revokeFamily(trx, principal.sessionId)
      const roles = rolesFor(user, membership.role)
      const pair = await tokens.issuePair(trx, { userId: user.id, tenantId, roles })
      return { user: user.serialize(), activeTenantId: tenantId, roles, tokens: pair }
    })
  },
}
