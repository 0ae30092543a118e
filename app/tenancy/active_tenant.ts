import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { Principal } from '#app/auth/jwt_guard'
import { ProblemException } from '#app/http/problem'
import { tenancy } from '#app/tenancy/tenancy'

/**
 * Runs `work` in the caller's active tenant (the `tid` of their token), when
 * their role there is one of `roles` (any member when omitted). Modules whose
 * resources live in "the tenant you are working in" use this rather than a
 * tenant id in the path.
 */
export function inActiveTenant<T>(
  principal: Principal,
  work: (trx: TransactionClientContract, tenantId: string) => Promise<T>,
  options: { roles?: string[]; action?: string } = {}
) {
  const tenantId = principal.tenantId
  if (!tenantId) {
    throw new ProblemException(403, 'no_active_tenant', 'Switch to a tenant first.')
  }
  if (options.roles && !principal.roles.some((role) => options.roles!.includes(role))) {
    throw new ProblemException(
      403,
      'forbidden',
      `Only ${options.roles.join(' or ')} may ${options.action ?? 'do this'}.`
    )
  }
  return tenancy.run(tenantId, (trx) => work(trx, tenantId), { userId: principal.userId })
}
