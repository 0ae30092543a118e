import { createHash, randomBytes } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import { ProblemException } from '#app/http/problem'
import { isUuid, newId } from '#app/platform/ids'
import { tenancy } from '#app/tenancy/tenancy'
import type { Principal } from '#app/auth/jwt_guard'
import type { MembershipRole } from '#modules/identity/services/accounts'
import { normalizeEmail } from '#modules/identity/services/accounts'
import { recordAudit } from '#modules/identity/services/audit'
import { asMember } from '#modules/identity/services/tenants'

export const INVITATION_TTL_DAYS = 7
const TOKEN_PREFIX = 'atr_inv_'

export interface InvitationView {
  id: string
  email: string
  role: MembershipRole
  expiresAt: string
  createdAt: string
}

interface InvitationRow {
  id: string
  tenant_id: string
  email: string
  role: MembershipRole
  expires_at: Date
  accepted_at: Date | null
  revoked_at: Date | null
  created_at: Date
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')
const invalidInvitation = () =>
  new ProblemException(
    404,
    'invitation_not_found',
    'This invitation is invalid, used, revoked or expired.'
  )

const present = (row: InvitationRow): InvitationView => ({
  id: row.id,
  email: row.email,
  role: row.role,
  expiresAt: new Date(row.expires_at).toISOString(),
  createdAt: new Date(row.created_at).toISOString(),
})

export const invitations = {
  /**
   * Invites an email (with or without an account) into the tenant. The token
   * is returned once, for the inviter to pass on until email delivery exists.
   */
  async create(
    principal: Principal,
    tenantId: string,
    input: { email: string; role: MembershipRole }
  ) {
    return asMember(principal, tenantId, async (trx, acting, policy) => {
      await policy.authorize('grant', acting, input.role)
      const token = `${TOKEN_PREFIX}${randomBytes(24).toString('base64url')}`
      const [row] = await trx
        .table('identity_invitations')
        .insert({
          id: newId(),
          tenant_id: tenantId,
          email: normalizeEmail(input.email),
          role: input.role,
          token_hash: hashToken(token),
          invited_by: principal.userId,
          expires_at: trx.raw(`now() + make_interval(days => ?)`, [INVITATION_TTL_DAYS]),
        })
        .returning('*')
      return { ...present(row), token }
    })
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
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 100) throw invalidInvitation()
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
        const inserted = await trx
          .table('identity_memberships')
          .insert({
            id: newId(),
            tenant_id: row.tenant_id,
            user_id: principal.userId,
            role: row.role,
          })
          .onConflict(['tenant_id', 'user_id'])
          .ignore()
          .returning('id')
        if (inserted.length === 0) {
          throw new ProblemException(
            409,
            'already_member',
            'You are already a member of this tenant.'
          )
        }
        await recordAudit(
          'member.added',
          {
            tenantId: row.tenant_id,
            actorUserId: principal.userId,
            subjectUserId: principal.userId,
            details: { role: row.role, invitation: row.id },
          },
          trx
        )
        return { tenantId: row.tenant_id, role: row.role }
      },
      { userId: principal.userId }
    )
  },
}
