import { randomBytes } from 'node:crypto'
import { sha256Hex } from '#app/platform/digest'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { newId } from '#app/platform/ids'
import { DateTime } from 'luxon'
import Invitation from '#modules/identity/models/invitation'
import type { MembershipRole } from '#modules/identity/models/membership'
import Tenant from '#modules/identity/models/tenant'
import { normalizeEmail } from '#modules/identity/services/accounts'

export const INVITATION_TTL_DAYS = 7
export const INVITATION_TOKEN_PREFIX = 'atr_inv_'

export const hashInvitationToken = sha256Hex

/** An invitation as the API shows it (Invitation serialized). */
export type InvitationView = ReturnType<Invitation['serialize']>

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
  const invitation = await Invitation.create(
    {
      id: newId(),
      tenantId: input.tenantId,
      email: normalizeEmail(input.email),
      role: input.role,
      tokenHash: hashInvitationToken(token),
      invitedBy: input.invitedBy,
      expiresAt: DateTime.now().plus({ days: INVITATION_TTL_DAYS }),
      acceptedAt: null,
      acceptedBy: null,
      revokedAt: null,
    },
    { client: trx }
  )
  const tenant = await Tenant.find(input.tenantId, { client: trx })
  return { invitation, token, tenantName: tenant?.name ?? 'a workspace' }
}
