import db from '@adonisjs/lucid/services/db'
import { ProblemException } from '#app/http/problem'
import { isUuid } from '#app/platform/ids'
export type { InvitationView } from '#modules/identity/services/invitation_tokens'
import { tenancy } from '#app/tenancy/tenancy'
import type { Principal } from '#app/auth/jwt_guard'
import type { MembershipRole } from '#modules/identity/services/accounts'
import { normalizeEmail } from '#modules/identity/services/accounts'
import { addMembership } from '#modules/identity/services/memberships'
import { asMember } from '#modules/identity/services/tenants'
import {
  INVITATION_TOKEN_PREFIX,
  hashInvitationToken,
  recordInvitation,
  presentInvitation,
  type InvitationRow,
} from '#modules/identity/services/invitation_tokens'
import { identityMail } from '#modules/identity/services/identity_mail'

export { INVITATION_TTL_DAYS } from '#modules/identity/services/invitation_tokens'

const hashToken = hashInvitationToken
const invalidInvitation = () =>
  new ProblemException(
    404,
    'invitation_not_found',
    'This invitation is invalid, used, revoked or expired.'
  )

const present = presentInvitation

export const invitations = {
  /**
   * Invites an email (with or without an account) into the tenant. The token
   * is mailed to that address, and returned once to the inviter as well.
   */
  async create(
    principal: Principal,
    tenantId: string,
    input: { email: string; role: MembershipRole }
  ) {
    const invited = await asMember(principal, tenantId, async (trx, acting, policy) => {
      await policy.authorize('grant', acting, input.role)
      return recordInvitation(trx, { tenantId, ...input, invitedBy: principal.userId })
    })
    await identityMail.invitation(
      invited.row.email,
      invited.tenantName,
      invited.row.role,
      invited.token
    )
    return { ...present(invited.row), token: invited.token }
  },

  async pending(principal: Principal, tenantId: string) {
    return asMember(principal, tenantId, async (trx, acting, policy) => {
      // Invitations name people who are not members yet: not for every member's eyes.
      await policy.authorize('viewInvitations', acting)
      const rows: InvitationRow[] = await trx
        .from('identity_invitations')
        .where('tenant_id', tenantId)
        .whereNull('accepted_at')
        .whereNull('revoked_at')
        .where('expires_at', '>', trx.raw('now()'))
        .orderBy('created_at', 'desc')
      return { data: rows.map(present) }
    })
  },

  async revoke(principal: Principal, tenantId: string, invitationId: string) {
    return asMember(principal, tenantId, async (trx, acting, policy) => {
      if (!isUuid(invitationId)) throw invalidInvitation()
      const row: InvitationRow | null = await trx
        .from('identity_invitations')
        .where({ id: invitationId, tenant_id: tenantId })
        .whereNull('accepted_at')
        .whereNull('revoked_at')
        .first()
      if (!row) throw invalidInvitation()
      await policy.authorize('grant', acting, row.role)
      await trx
        .from('identity_invitations')
        .where('id', row.id)
        .update({ revoked_at: trx.raw('now()') })
    })
  },

  /**
   * The signed-in invitee accepts: the invitation must be pending and for
   * their email (otherwise it is indistinguishable from a missing one).
   */
  async accept(principal: Principal, token: string) {
    if (!token.startsWith(INVITATION_TOKEN_PREFIX) || token.length > 100) throw invalidInvitation()
    // Found by token across tenants, as the platform: the invitee is not a member yet.
    const row: InvitationRow | null = await db
      .from('identity_invitations')
      .where('token_hash', hashToken(token))
      .whereNull('accepted_at')
      .whereNull('revoked_at')
      .where('expires_at', '>', db.raw('now()'))
      .first()
    if (!row || row.email !== normalizeEmail(principal.email)) throw invalidInvitation()

    return tenancy.run(
      row.tenant_id,
      async (trx) => {
        const claimed = await trx
          .from('identity_invitations')
          .where('id', row.id)
          .whereNull('accepted_at')
          .update({ accepted_at: trx.raw('now()'), accepted_by: principal.userId })
        if (Number(claimed) === 0) throw invalidInvitation()
        await addMembership(trx, {
          tenantId: row.tenant_id,
          userId: principal.userId,
          role: row.role,
          actorUserId: principal.userId,
          alreadyMember: 'You are already a member of this tenant.',
          details: { invitation: row.id },
        })
        return { tenantId: row.tenant_id, role: row.role }
      },
      { userId: principal.userId }
    )
  },
}
