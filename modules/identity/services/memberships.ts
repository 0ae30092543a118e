import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { newId } from '#app/platform/ids'
import type { MembershipRole } from '#modules/identity/services/accounts'
import { recordAudit } from '#modules/identity/services/audit'
import { identityChanged } from '#modules/identity/services/identity_changes'

/**
 * Makes a user a member, in the tenant's unit of work, with its audit record
 * in the same transaction. Already a member: 409, and nothing changes.
 */
export async function addMembership(
  trx: TransactionClientContract,
  input: {
    tenantId: string
    userId: string
    role: MembershipRole
    actorUserId: string
    /** Said in the 409 (`This user is…` to an admin, `You are…` to an invitee). */
    alreadyMember: string
    details?: Record<string, unknown>
  }
) {
  const inserted = await trx
    .table('identity_memberships')
    .insert({ id: newId(), tenant_id: input.tenantId, user_id: input.userId, role: input.role })
    .onConflict(['tenant_id', 'user_id'])
    .ignore()
    .returning('id')
  if (inserted.length === 0) {
    throw new ProblemException(409, 'already_member', input.alreadyMember)
  }
  identityChanged(trx, `u:${input.userId}`)
  await recordAudit(
    'member.added',
    {
      tenantId: input.tenantId,
      actorUserId: input.actorUserId,
      subjectUserId: input.userId,
      details: { role: input.role, ...input.details },
    },
    trx
  )
}
