import { createHash, randomBytes } from 'node:crypto'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { newId } from '#app/platform/ids'
import type { MembershipRole } from '#modules/identity/services/accounts'
import { normalizeEmail } from '#modules/identity/services/accounts'

export const INVITATION_TTL_DAYS = 7
export const INVITATION_TOKEN_PREFIX = 'atr_inv_'

export const hashInvitationToken = (token: string) =>
  createHash('sha256').update(token).digest('hex')

export interface InvitationRow {
  id: string
  tenant_id: string
  email: string
  role: MembershipRole
  expires_at: Date
  accepted_at: Date | null
  revoked_at: Date | null
  created_at: Date
}

export interface InvitationView {
  id: string
  email: string
  role: MembershipRole
  expiresAt: string
  createdAt: string
}

export const presentInvitation = (row: InvitationRow): InvitationView => ({
  id: row.id,
  email: row.email,
  role: row.role,
  expiresAt: new Date(row.expires_at).toISOString(),
  createdAt: new Date(row.created_at).toISOString(),
})

/**
 * Records an invitation inside the tenant's unit of work and returns it with
 * its token (stored hashed) and the tenant's name, for the mail sent after
 * the commit.
 */
export async function recordInvitation(
  trx: TransactionClientContract,
  input: { tenantId: string; email: string; role: MembershipRole; invitedBy: string }
) {
  const token = `${INVITATION_TOKEN_PREFIX}${randomBytes(24).toString('base64url')}`
  const [row] = await trx
    .table('identity_invitations')
    .insert({
      id: newId(),
      tenant_id: input.tenantId,
      email: normalizeEmail(input.email),
      role: input.role,
      token_hash: hashInvitationToken(token),
      invited_by: input.invitedBy,
      expires_at: trx.raw(`now() + make_interval(days => ?)`, [INVITATION_TTL_DAYS]),
    })
    .returning('*')
  const tenant = await trx
    .from('identity_tenants')
    .where('id', input.tenantId)
    .select('name')
    .first()
  return { row: row as InvitationRow, token, tenantName: (tenant?.name as string) ?? 'a workspace' }
}
