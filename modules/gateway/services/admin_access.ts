import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { Principal } from '#app/auth/jwt_guard'
import { ProblemException } from '#app/http/problem'
import { tenancy } from '#app/tenancy/tenancy'
import { CONFIG_CHANNEL } from '#modules/gateway/services/change_feed'

const ADMIN_ROLES = ['owner', 'admin']

/**
 * Gateway configuration belongs to the caller's active tenant and is managed
 * by its owners and admins (roles from the access token, at most 15 minutes old).
 */
export function asTenantAdmin<T>(
  principal: Principal,
  work: (trx: TransactionClientContract, tenantId: string) => Promise<T>,
  options: { changesConfig?: boolean } = {}
) {
  const tenantId = principal.tenantId
  if (!tenantId) {
    throw new ProblemException(
      403,
      'no_active_tenant',
      'Switch to a tenant first: gateway settings belong to a tenant.'
    )
  }
  if (!principal.roles.some((role) => ADMIN_ROLES.includes(role))) {
    throw new ProblemException(
      403,
      'forbidden',
      'Only tenant owners and admins manage the gateway.'
    )
  }
  return tenancy.run(
    tenantId,
    async (trx) => {
      const result = await work(trx, tenantId)
      // Every process drops its cached routing for the tenant when this commits.
      if (options.changesConfig)
        await trx.rawQuery('SELECT pg_notify(?, ?)', [CONFIG_CHANNEL, tenantId])
      return result
    },
    { userId: principal.userId }
  )
}

export const notFound = (what: string) =>
  new ProblemException(404, `${what}_not_found`, `No such ${what.replaceAll('_', ' ')}.`)

export function isUniqueViolation(error: unknown, constraint?: string) {
  const { code, constraint: name } = error as { code?: string; constraint?: string }
  return code === '23505' && (!constraint || name === constraint)
}
