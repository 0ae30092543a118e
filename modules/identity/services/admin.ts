import db from '@adonisjs/lucid/services/db'
import { DateTime } from 'luxon'
import Tenant from '#modules/identity/models/tenant'
import User from '#modules/identity/models/user'
import { ProblemException } from '#app/http/problem'
import { paginate, type Page, type PageRequest } from '#app/http/pagination'
import { isUuid } from '#app/platform/ids'
import { containsPattern } from '#app/platform/search_text'
import type { Principal } from '#app/auth/jwt_guard'
import { recordAudit } from '#modules/identity/services/audit'
import { identityChanged } from '#modules/identity/services/identity_changes'

/** An account as platform administrators see it (User serialized). */
export type AdminUserView = ReturnType<User['serialize']>

/** A tenant as platform administrators see it: Tenant serialized, with its member count. */
export type AdminTenantView = ReturnType<Tenant['serialize']> & { memberCount: number }

/** Platform administration reads across tenants on purpose, so it is for superadmins only. */
function requireSuperadmin(principal: Principal) {
  if (!principal.isSuperadmin) {
    throw new ProblemException(403, 'forbidden', 'Only platform administrators may do this.')
  }
}

export const admin = {
  async users(
    principal: Principal,
    search: { email?: string } & PageRequest
  ): Promise<Page<AdminUserView>> {
    requireSuperadmin(principal)
    const query = User.query()
    if (search.email) query.whereILike('email', containsPattern(search.email.toLowerCase()))
    return paginate(query, search, {}, (user) => user.serialize())
  },

  /** Disabling takes effect on the user's next request: tokens are checked against it, sessions are revoked. */
  async setDisabled(
    principal: Principal,
    userId: string,
    disabled: boolean
  ): Promise<AdminUserView> {
    requireSuperadmin(principal)
    if (!isUuid(userId)) throw new ProblemException(404, 'user_not_found', 'No such user.')
    if (disabled && userId === principal.userId) {
      throw new ProblemException(409, 'cannot_disable_self', 'You cannot disable your own account.')
    }
    return db.transaction(async (trx) => {
      const user = await User.query({ client: trx }).where('id', userId).forUpdate().first()
      if (!user) throw new ProblemException(404, 'user_not_found', 'No such user.')
      // Disabling twice keeps the first time.
      user.disabledAt = disabled ? (user.disabledAt ?? DateTime.now()) : null
      await user.useTransaction(trx).save()
      identityChanged(trx, `u:${userId}`)
      if (disabled) {
        await trx
          .from('identity_refresh_tokens')
          .where('user_id', userId)
          .whereNull('revoked_at')
          .update({ revoked_at: trx.raw('now()') })
      }
      await recordAudit(
        disabled ? 'user.disabled' : 'user.enabled',
        { actorUserId: principal.userId, subjectUserId: userId },
        trx
      )
      return user.serialize()
    })
  },

  async tenants(principal: Principal, page: PageRequest): Promise<Page<AdminTenantView>> {
    requireSuperadmin(principal)
    const query = Tenant.query().withCount('memberships')
    return paginate(query, page, {}, (tenant) => ({
      ...tenant.serialize(),
      memberCount: Number(tenant.$extras.memberships_count),
    }))
  },
}
