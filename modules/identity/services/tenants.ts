import { Bouncer } from '@adonisjs/bouncer'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { paginate, type Page, type PageRequest } from '#app/http/pagination'
import { isUuid, newId } from '#app/platform/ids'
import { tenancy } from '#app/tenancy/tenancy'
import type { Principal } from '#app/auth/jwt_guard'
import type { MembershipRole } from '#modules/identity/services/accounts'
import { normalizeEmail } from '#modules/identity/services/accounts'
import TenantPolicy, { type ActingMembership } from '#modules/identity/policies/tenant_policy'
import { recordAudit } from '#modules/identity/services/audit'
import { addMembership } from '#modules/identity/services/memberships'
import { events } from '#app/messaging/outbox'
import '#modules/identity/events'
import { tenantSlug } from '#modules/identity/services/slugs'
import { recordInvitation, presentInvitation } from '#modules/identity/services/invitation_tokens'
import type { InvitationView } from '#modules/identity/services/invitation_tokens'
import { identityMail } from '#modules/identity/services/identity_mail'

export interface TenantView {
  id: string
  name: string
  slug: string
  role: MembershipRole
  createdAt: string
}

export interface MemberView {
  userId: string
  email: string
  name: string
  role: MembershipRole
  joinedAt: string
}

interface MemberRow {
  id: string
  user_id: string
  email: string
  name: string
  role: MembershipRole
  created_at: Date
}

interface TenantListRow {
  id: string
  created_at: Date
  role: MembershipRole
  tenant_id: string
  name: string
  slug: string
  tenant_created_at: Date
}

const notFound = () => new ProblemException(404, 'tenant_not_found', 'No such tenant.')
const memberNotFound = () =>
  new ProblemException(404, 'member_not_found', 'No such member in this tenant.')

function presentTenant(
  tenant: { id: string; name: string; slug: string; created_at: Date },
  role: MembershipRole
): TenantView {
  return {
    id: tenant.id,
    name: tenant.name,
    slug: tenant.slug,
    role,
    createdAt: new Date(tenant.created_at).toISOString(),
  }
}

function presentMember(row: MemberRow): MemberView {
  return {
    userId: row.user_id,
    email: row.email,
    name: row.name,
    role: row.role,
    joinedAt: new Date(row.created_at).toISOString(),
  }
}

/**
 * Runs `work` inside the tenant with the caller's membership, or answers 404
 * when the id is malformed or the caller is not a member: another tenant's
 * resources are indistinguishable from missing ones.
 */
export async function asMember<T>(
  principal: Principal,
  tenantId: string,
  work: (
    trx: TransactionClientContract,
    acting: ActingMembership,
    policy: ReturnType<typeof bouncerFor>
  ) => Promise<T>
) {
  if (!isUuid(tenantId)) throw notFound()
  return tenancy.run(
    tenantId,
    async (trx) => {
      const membership = await trx
        .from('identity_memberships')
        .where({ tenant_id: tenantId, user_id: principal.userId })
        .first()
      if (!membership) throw notFound()
      return work(trx, { userId: membership.user_id, role: membership.role }, bouncerFor(principal))
    },
    { userId: principal.userId }
  )
}

function bouncerFor(principal: Principal) {
  return new Bouncer(principal).with(TenantPolicy)
}

function membersQuery(trx: TransactionClientContract, tenantId: string) {
  return trx
    .from('identity_memberships as m')
    .join('identity_users as u', 'u.id', 'm.user_id')
    .where('m.tenant_id', tenantId)
    .select('m.id', 'm.user_id', 'm.role', 'm.created_at', 'u.email', 'u.name')
}

/** Locks the tenant's owner rows, so two concurrent demotions cannot leave it without an owner. */
async function lockedOwnerCount(trx: TransactionClientContract, tenantId: string) {
  const owners = await trx
    .from('identity_memberships')
    .where({ tenant_id: tenantId, role: 'owner' })
    .forUpdate()
    .select('user_id')
  return owners.length
}

const lastOwner = () =>
  new ProblemException(
    409,
    'last_owner',
    'A tenant must keep at least one owner; make someone else owner first.'
  )

export const tenants = {
  async list(principal: Principal, page: PageRequest): Promise<Page<TenantView>> {
    return tenancy.runAsUser(principal.userId, (trx) =>
      paginate<TenantListRow, TenantView>(
        trx
          .from('identity_memberships as m')
          .join('identity_tenants as t', 't.id', 'm.tenant_id')
          .where('m.user_id', principal.userId)
          .select(
            'm.id',
            'm.created_at',
            'm.role',
            't.id as tenant_id',
            't.name',
            't.slug',
            't.created_at as tenant_created_at'
          ),
        page,
        { idColumn: 'm.id' },
        (row) => ({
          id: row.tenant_id,
          name: row.name,
          slug: row.slug,
          role: row.role,
          createdAt: new Date(row.tenant_created_at).toISOString(),
        })
      )
    )
  },

  async create(principal: Principal, name: string): Promise<TenantView> {
    const tenantId = newId()
    return tenancy.run(
      tenantId,
      async (trx) => {
        const [tenant] = await trx
          .table('identity_tenants')
          .insert({ id: tenantId, name, slug: tenantSlug(name) })
          .returning('*')
        await trx
          .table('identity_memberships')
          .insert({ id: newId(), tenant_id: tenantId, user_id: principal.userId, role: 'owner' })
        return presentTenant(tenant, 'owner')
      },
      { userId: principal.userId }
    )
  },

  async show(principal: Principal, tenantId: string): Promise<TenantView> {
    return asMember(principal, tenantId, async (trx, acting) => {
      const tenant = await trx.from('identity_tenants').where('id', tenantId).firstOrFail()
      return presentTenant(tenant, acting.role)
    })
  },

  async update(
    principal: Principal,
    tenantId: string,
    changes: { name?: string }
  ): Promise<TenantView> {
    return asMember(principal, tenantId, async (trx, acting, policy) => {
      await policy.authorize('update', acting)
      const [tenant] = await trx
        .from('identity_tenants')
        .where('id', tenantId)
        .update({ ...changes, updated_at: trx.raw('now()') })
        .returning('*')
      return presentTenant(tenant, acting.role)
    })
  },

  async members(
    principal: Principal,
    tenantId: string,
    page: PageRequest
  ): Promise<Page<MemberView>> {
    return asMember(principal, tenantId, (trx) =>
      paginate<MemberRow, MemberView>(
        membersQuery(trx, tenantId),
        page,
        { idColumn: 'm.id', direction: 'asc' },
        presentMember
      )
    )
  },

  /**
   * Adds a verified account by email. An account whose address was never
   * verified may not be its owner's (anyone can register any address), so it
   * gets an invitation mailed to that address instead: only whoever reads
   * that mailbox can join.
   */
  async addMember(
    principal: Principal,
    tenantId: string,
    input: { email: string; role: MembershipRole }
  ): Promise<{ added: MemberView } | { invited: InvitationView }> {
    type Outcome =
      { member: MemberView } | { invitation: Awaited<ReturnType<typeof recordInvitation>> }
    const outcome = await asMember(
      principal,
      tenantId,
      async (trx, acting, policy): Promise<Outcome> => {
        await policy.authorize('grant', acting, input.role)
        // Users are global: look the account up outside RLS (the app role may read users).
        const user = await trx
          .from('identity_users')
          .where('email', normalizeEmail(input.email))
          .first()
        if (!user) {
          throw new ProblemException(422, 'validation_failed', 'The request has invalid fields.', [
            {
              field: 'email',
              rule: 'exists',
              message:
                'No account has this email; invite it with POST /tenants/:id/invitations instead.',
            },
          ])
        }
        if (!user.email_verified_at) {
          return {
            invitation: await recordInvitation(trx, {
              tenantId,
              email: user.email,
              role: input.role,
              invitedBy: principal.userId,
            }),
          }
        }
        await addMembership(trx, {
          tenantId,
          userId: user.id,
          role: input.role,
          actorUserId: principal.userId,
          alreadyMember: 'This user is already a member of the tenant.',
        })
        const row = await membersQuery(trx, tenantId).where('m.user_id', user.id).firstOrFail()
        return { member: presentMember(row) }
      }
    )
    if ('member' in outcome) return { added: outcome.member }
    const { row, token, tenantName } = outcome.invitation
    // The token goes to the mailbox only: the inviter cannot hand it to whoever registered the address.
    await identityMail.invitation(row.email, tenantName, row.role, token)
    return { invited: presentInvitation(row) }
  },

  async changeRole(principal: Principal, tenantId: string, userId: string, role: MembershipRole) {
    return asMember(principal, tenantId, async (trx, acting, policy) => {
      const target = await findTarget(trx, tenantId, userId)
      await policy.authorize('changeMember', acting, target)
      await policy.authorize('grant', acting, role)
      if (
        target.role === 'owner' &&
        role !== 'owner' &&
        (await lockedOwnerCount(trx, tenantId)) <= 1
      ) {
        throw lastOwner()
      }
      await trx
        .from('identity_memberships')
        .where({ tenant_id: tenantId, user_id: userId })
        .update({
          role,
          updated_at: trx.raw('now()'),
        })
      await recordAudit(
        'member.role_changed',
        {
          tenantId,
          actorUserId: principal.userId,
          subjectUserId: userId,
          details: { from: target.role, to: role },
        },
        trx
      )
      const row = await membersQuery(trx, tenantId).where('m.user_id', userId).firstOrFail()
      return presentMember(row)
    })
  },

  async removeMember(principal: Principal, tenantId: string, userId: string) {
    return asMember(principal, tenantId, async (trx, acting, policy) => {
      const target = await findTarget(trx, tenantId, userId)
      const leaving = await policy.allows('leave', acting, target)
      if (!leaving) await policy.authorize('changeMember', acting, target)
      if (target.role === 'owner' && (await lockedOwnerCount(trx, tenantId)) <= 1) throw lastOwner()
      await trx
        .from('identity_memberships')
        .where({ tenant_id: tenantId, user_id: userId })
        .delete()
      await events.publish(
        trx,
        'identity.member_removed',
        { userId, role: target.role, byUserId: principal.userId, left: leaving },
        { version: 1, tenantId, aggregateId: userId }
      )
      await recordAudit(
        'member.removed',
        {
          tenantId,
          actorUserId: principal.userId,
          subjectUserId: userId,
          details: { role: target.role, left: leaving },
        },
        trx
      )
    })
  },
}

export interface AuditView {
  id: string
  event: string
  actorUserId: string | null
  subjectUserId: string | null
  ip: string | null
  userAgent: string | null
  requestId: string | null
  details: Record<string, unknown>
  createdAt: string
}

interface AuditRow {
  id: string
  event: string
  actor_user_id: string | null
  subject_user_id: string | null
  ip: string | null
  user_agent: string | null
  request_id: string | null
  details: Record<string, unknown>
  created_at: Date
}

export async function tenantAudit(
  principal: Principal,
  tenantId: string,
  page: PageRequest
): Promise<Page<AuditView>> {
  return asMember(principal, tenantId, async (trx, acting, policy) => {
    await policy.authorize('viewAudit', acting)
    return paginate<AuditRow, AuditView>(
      trx.from('identity_audit_events').where('tenant_id', tenantId),
      page,
      {},
      (row) => ({
        id: row.id,
        event: row.event,
        actorUserId: row.actor_user_id,
        subjectUserId: row.subject_user_id,
        ip: row.ip,
        userAgent: row.user_agent,
        requestId: row.request_id,
        details: row.details,
        createdAt: new Date(row.created_at).toISOString(),
      })
    )
  })
}

async function findTarget(
  trx: TransactionClientContract,
  tenantId: string,
  userId: string
): Promise<ActingMembership> {
  if (!isUuid(userId)) throw memberNotFound()
  const row = await trx
    .from('identity_memberships')
    .where({ tenant_id: tenantId, user_id: userId })
    .first()
  if (!row) throw memberNotFound()
  return { userId: row.user_id, role: row.role }
}

/** For other modules (through index.ts): whether a user belongs to the tenant of the unit of work. */
export async function isTenantMember(
  trx: TransactionClientContract,
  tenantId: string,
  userId: string
) {
  if (!isUuid(userId)) return false
  const row = await trx
    .from('identity_memberships')
    .where({ tenant_id: tenantId, user_id: userId })
    .first()
  return Boolean(row)
}
