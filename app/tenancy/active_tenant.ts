import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { TenantActor } from '#app/auth/policies'
import { tenancy } from '#app/tenancy/tenancy'

/**
 * Runs `work` as a unit of work in the actor's tenant. Who may act is decided
 * before this, by the resource's policy on the membership read this request.
 */
export function inActiveTenant<T>(
  actor: TenantActor,
  work: (trx: TransactionClientContract, tenantId: string) => Promise<T>
) {
  return tenancy.run(actor.tenantId, (trx) => work(trx, actor.tenantId), { userId: actor.userId })
}
