import db from '@adonisjs/lucid/services/db'
import { DateTime } from 'luxon'
import { ProblemException } from '#app/http/problem'
import { isUuid } from '#app/platform/ids'
export type { InvitationView } from '#modules/identity/services/invitation_tokens'
import { tenancy } from '#app/tenancy/tenancy'
import type { Principal } from '#app/auth/jwt_guard'
import type { MembershipRole } from '#modules/identity/services/accounts'
import { normalizeEmail } from '#modules/identity/services/accounts'
import { addMembership } from '#modules/identity/services/memberships'
import { asMember } from '#modules/identity/services/tenants'
import Invitation from '#modules/identity/models/invitation'
import {
  INVITATION_TOKEN_PREFIX,
  hashInvitationToken,
  recordInvitation,
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
    const { invitation, tenantName, token } = invited
    await identityMail.invitation(invitation.email, tenantName, invitation.role, token)
    return { ...invitation.serialize(), token }
  },

  async pending(principal: Principal, tenantId: string) {
    return asMember(
      principal,
      tenantId,
      async (trx, acting, policy) => {
        // Invitations name people who are not members yet: not for every member's eyes.
        await policy.authorize('viewInvitations', acting)
        const pending = await Invitation.query({ client: trx })
          .where('tenant_id', tenantId)
          .whereNull('accepted_at')
          .whereNull('revoked_at')
          .where('expires_at', '>', trx.raw('now()'))
          .orderBy('id', 'desc')
        return { data: pending.map((invitation) => invitation.serialize()) }
      },
      { readOnly: true }
    )
  },

  async revoke(principal: Principal, tenantId: string, invitationId: string) {
    return asMember(principal, tenantId, async (trx, acting, policy) => {
      if (!isUuid(invitationId)) throw invalidInvitation()
      const invitation = await Invitation.query({ client: trx })
        .where({ id: invitationId, tenant_id: tenantId })
        .whereNull('accepted_at')
        .whereNull('revoked_at')
        .first()
      if (!invitation) throw invalidInvitation()
      await policy.authorize('grant', acting, invitation.role)
      invitation.revokedAt = DateTime.now()
      await invitation.useTransaction(trx).save()
    })
  },

  /**
   * The signed-in invitee accepts: the invitation must be pending and for
   * their email (otherwise it is indistinguishable from a missing one).
   */
  async accept(principal: Principal, token: string) {
    if (!token.startsWith(INVITATION_TOKEN_PREFIX) || token.length > 100) throw invalidInvitation()
    // Found by token across tenants, as the platform: the invitee is not a member yet.
    const invitation = await Invitation.query()
      .where('token_hash', hashToken(token))
      .whereNull('accepted_at')
      .whereNull('revoked_at')
      .where('expires_at', '>', db.raw('now()'))
      .first()
    if (!invitation || invitation.email !== normalizeEmail(principal.email)) {
      throw invalidInvitation()
    }

    return tenancy.run(
      invitation.tenantId,
      async (trx) => {
        // A conditional UPDATE is the point: of two accepts at once, exactly one claims it.
        const claimed = await trx
          .from('identity_invitations')
          .where('id', invitation.id)
          .whereNull('accepted_at')
          .update({ accepted_at: trx.raw('now()'), accepted_by: principal.userId })
        if (Number(claimed) === 0) throw invalidInvitation()
        await addMembership(trx, {
          tenantId: invitation.tenantId,
          userId: principal.userId,
          role: invitation.role,
          actorUserId: principal.userId,
          alreadyMember: 'You are already a member of this tenant.',
          details: { invitation: invitation.id },
        })
        return { tenantId: invitation.tenantId, role: invitation.role }
      },
      { userId: principal.userId }
    )
  },
}
