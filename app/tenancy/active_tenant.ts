import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { TenantActor } from '#app/auth/policies'
import { tenancy, type UnitOfWorkOptions } from '#app/tenancy/tenancy'

/**
 * Runs `work` as a unit of work in the actor's tenant. Who may act is decided
 * before this, by the resource's policy on the membership read this request.
 * A use case that only reads says `{ readOnly: true }`: each of its
 * statements then costs one round trip and there is no COMMIT to wait for
 * (tenancy.ts, UnitOfWorkOptions.readOnly).
 */
export function inActiveTenant<T>(
  actor: TenantActor,
  work: (trx: TransactionClientContract, tenantId: string) => Promise<T>,
  options: Pick<UnitOfWorkOptions, 'readOnly'> = {}
) {
  return tenancy.run(actor.tenantId, (trx) => work(trx, actor.tenantId), {
    userId: actor.userId,
    readOnly: options.readOnly,
  })
}
