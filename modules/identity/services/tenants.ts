import { Bouncer } from '@adonisjs/bouncer'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { paginate, type Page, type PageRequest } from '#app/http/pagination'
import { isUuid, newId } from '#app/platform/ids'
import { tenancy } from '#app/tenancy/tenancy'
import type { Principal } from '#app/auth/jwt_guard'
import { sentFields } from '#app/platform/columns'
import AuditRecord from '#modules/identity/models/audit_record'
import Membership, { type MembershipRole } from '#modules/identity/models/membership'
import Tenant from '#modules/identity/models/tenant'
import User from '#modules/identity/models/user'
import { normalizeEmail } from '#modules/identity/services/accounts'
import TenantPolicy, { type ActingMembership } from '#modules/identity/policies/tenant_policy'
import { recordAudit } from '#modules/identity/services/audit'
import { addMembership } from '#modules/identity/services/memberships'
import { events } from '#app/messaging/outbox'
import '#modules/identity/events'
import { tenantSlug } from '#modules/identity/services/slugs'
import { recordInvitation } from '#modules/identity/services/invitation_tokens'
import type { InvitationView } from '#modules/identity/services/invitation_tokens'
import { identityMail } from '#modules/identity/services/identity_mail'
import { identityChanged } from '#modules/identity/services/identity_changes'

/** A tenant as its members see it: Tenant serialized, with the caller's role. */
export type TenantView = ReturnType<Tenant['serialize']> & { role: MembershipRole }

/** A member as the tenant sees it (Membership serialized with its user). */
export type MemberView = ReturnType<Membership['serialize']>

const notFound = () => new ProblemException(404, 'tenant_not_found', 'No such tenant.')
const memberNotFound = () =>
  new ProblemException(404, 'member_not_found', 'No such member in this tenant.')

function presentTenant(tenant: Tenant, role: MembershipRole): TenantView {
  return { ...tenant.serialize(), role }
}

/**
 * Runs `work` inside the tenant with the caller's membership, or answers 404
 * when the id is malformed or the caller is not a member: another tenant's
 * resources are indistinguishable from missing ones.
 *
 * A read (`readOnly`) of the caller's active tenant takes the membership the
 * token check joined in (Principal.membership: live, dropped from the cache
 * at every membership change), as every module's policies do; a write reads
 * it again inside its own transaction, and any other tenant is read there too.
 */
export async function asMember<T>(
  principal: Principal,
  tenantId: string,
  work: (
    trx: TransactionClientContract,
    acting: ActingMembership,
    policy: ReturnType<typeof bouncerFor>
  ) => Promise<T>,
  options: { readOnly?: boolean } = {}
) {
  if (!isUuid(tenantId)) throw notFound()
  const known =
    options.readOnly && tenantId === principal.tenantId && principal.membership
      ? { userId: principal.userId, role: principal.membership.role }
      : null
  return tenancy.run(
    tenantId,
    async (trx) => {
      if (known) return work(trx, known, bouncerFor(principal))
      const membership = await Membership.query({ client: trx })
        .where({ tenant_id: tenantId, user_id: principal.userId })
        .first()
      if (!membership) throw notFound()
      return work(trx, { userId: membership.userId, role: membership.role }, bouncerFor(principal))
    },
    { userId: principal.userId, readOnly: options.readOnly }
  )
}

function bouncerFor(principal: Principal) {
  return new Bouncer(principal).with(TenantPolicy)
}

function membersQuery(trx: TransactionClientContract, tenantId: string) {
  return Membership.query({ client: trx }).where('tenant_id', tenantId).preload('user')
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
    return tenancy.runAsUser(
      principal.userId,
      (trx) =>
        paginate(
          Membership.query({ client: trx }).where('user_id', principal.userId).preload('tenant'),
          page,
          {},
          (membership) => presentTenant(membership.tenant, membership.role)
        ),
      { readOnly: true }
    )
  },

  async create(principal: Principal, name: string): Promise<TenantView> {
    const tenantId = newId()
    return tenancy.run(
      tenantId,
      async (trx) => {
        const tenant = await Tenant.create(
          { id: tenantId, name, slug: tenantSlug(name) },
          { client: trx }
        )
        await Membership.create(
          { id: newId(), tenantId, userId: principal.userId, role: 'owner' },
          { client: trx }
        )
        identityChanged(trx, `u:${principal.userId}`)
        return presentTenant(tenant, 'owner')
      },
      { userId: principal.userId }
    )
  },

  async show(principal: Principal, tenantId: string): Promise<TenantView> {
    return asMember(
      principal,
      tenantId,
      async (trx, acting) => {
        const tenant = await Tenant.findOrFail(tenantId, { client: trx })
        return presentTenant(tenant, acting.role)
      },
      { readOnly: true }
    )
  },

  async update(
    principal: Principal,
    tenantId: string,
    changes: { name?: string }
  ): Promise<TenantView> {
    return asMember(principal, tenantId, async (trx, acting, policy) => {
      await policy.authorize('update', acting)
      const tenant = await Tenant.findOrFail(tenantId, { client: trx })
      await tenant.useTransaction(trx).merge(sentFields(changes)).save()
      identityChanged(trx, `n:${tenantId}`)
      return presentTenant(tenant, acting.role)
    })
  },

  async members(
    principal: Principal,
    tenantId: string,
    page: PageRequest
  ): Promise<Page<MemberView>> {
    return asMember(
      principal,
      tenantId,
      (trx) =>
        paginate(membersQuery(trx, tenantId), page, { direction: 'asc' }, (member) =>
          member.serialize()
        ),
      { readOnly: true }
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
        const user = await User.findBy('email', normalizeEmail(input.email), { client: trx })
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
        if (!user.emailVerified) {
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
        const member = await membersQuery(trx, tenantId).where('user_id', user.id).firstOrFail()
        return { member: member.serialize() }
      }
    )
    if ('member' in outcome) return { added: outcome.member }
    const { invitation, token, tenantName } = outcome.invitation
    // The token goes to the mailbox only: the inviter cannot hand it to whoever registered the address.
    await identityMail.invitation(invitation.email, tenantName, invitation.role, token)
    return { invited: invitation.serialize() }
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
      const previousRole = target.role
      await target.useTransaction(trx).merge({ role }).save()
      identityChanged(trx, `u:${userId}`)
      await recordAudit(
        'member.role_changed',
        {
          tenantId,
          actorUserId: principal.userId,
          subjectUserId: userId,
          details: { from: previousRole, to: role },
        },
        trx
      )
      await target.load('user')
      return target.serialize()
    })
  },

  async removeMember(principal: Principal, tenantId: string, userId: string) {
    return asMember(principal, tenantId, async (trx, acting, policy) => {
      const target = await findTarget(trx, tenantId, userId)
      const leaving = await policy.allows('leave', acting, target)
      if (!leaving) await policy.authorize('changeMember', acting, target)
      if (target.role === 'owner' && (await lockedOwnerCount(trx, tenantId)) <= 1) throw lastOwner()
      await target.useTransaction(trx).delete()
      identityChanged(trx, `u:${userId}`)
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

/** A security event as tenant managers see it (AuditRecord serialized). */
export type AuditView = ReturnType<AuditRecord['serialize']>

export async function tenantAudit(
  principal: Principal,
  tenantId: string,
  page: PageRequest
): Promise<Page<AuditView>> {
  return asMember(
    principal,
    tenantId,
    async (trx, acting, policy) => {
      await policy.authorize('viewAudit', acting)
      return paginate(
        AuditRecord.query({ client: trx }).where('tenant_id', tenantId),
        page,
        {},
        (record) => record.serialize()
      )
    },
    { readOnly: true }
  )
}

async function findTarget(trx: TransactionClientContract, tenantId: string, userId: string) {
  if (!isUuid(userId)) throw memberNotFound()
  const target = await Membership.query({ client: trx })
    .where({ tenant_id: tenantId, user_id: userId })
    .first()
  if (!target) throw memberNotFound()
  return target
}

/** For other modules (through index.ts): whether a user belongs to the tenant of the unit of work. */
export async function isTenantMember(
  trx: TransactionClientContract,
  tenantId: string,
  userId: string
) {
  if (!isUuid(userId)) return false
  const membership = await Membership.query({ client: trx })
    .where({ tenant_id: tenantId, user_id: userId })
    .first()
  return membership !== null
}
