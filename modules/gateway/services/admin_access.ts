import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { changeFeed } from '#app/platform/change_feed'
import { tenancy } from '#app/tenancy/tenancy'
import { CONFIG_CHANNEL } from '#modules/gateway/services/change_feed'

/**
 * A unit of work on the gateway settings of the actor's tenant; GatewayPolicy
 * has decided who may. `changesConfig` tells every process to drop its cached
 * routing for the tenant when the change commits (this one at the commit,
 * before the admin's answer).
 */
export function inGatewayTenant<T>(
  actor: TenantActor,
  work: (trx: TransactionClientContract, tenantId: string) => Promise<T>,
  options: { changesConfig?: boolean; readOnly?: boolean } = {}
) {
  if (options.changesConfig && options.readOnly) {
    throw new Error('inGatewayTenant: a read-only unit of work changes no config')
  }
  return tenancy.run(
    actor.tenantId,
    async (trx) => {
      const result = await work(trx, actor.tenantId)
      if (options.changesConfig) await changeFeed.announce(trx, CONFIG_CHANNEL, actor.tenantId)
      return result
    },
    { userId: actor.userId, readOnly: options.readOnly }
  )
}

export const notFound = (what: string) =>
  new ProblemException(404, `${what}_not_found`, `No such ${what.replaceAll('_', ' ')}.`)

export function isUniqueViolation(error: unknown, constraint?: string) {
  const { code, constraint: name } = error as { code?: string; constraint?: string }
  return code === '23505' && (!constraint || name === constraint)
}
