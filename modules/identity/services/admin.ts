import db from '@adonisjs/lucid/services/db'
import { ProblemException } from '#app/http/problem'
import { paginate, type Page, type PageRequest } from '#app/http/pagination'
import { isUuid } from '#app/platform/ids'
import type { Principal } from '#app/auth/jwt_guard'
import { recordAudit } from '#modules/identity/services/audit'

export interface AdminUserView {
  id: string
  email: string
  name: string
  isSuperadmin: boolean
  disabledAt: string | null
  createdAt: string
}

export interface AdminTenantView {
  id: string
  name: string
  slug: string
  memberCount: number
  createdAt: string
}

interface UserRow {
  id: string
  email: string
  name: string
  is_superadmin: boolean
  disabled_at: Date | null
  created_at: Date
}

/** Platform administration reads across tenants on purpose, so it is for superadmins only. */
function requireSuperadmin(principal: Principal) {
  if (!principal.isSuperadmin) {
    throw new ProblemException(403, 'forbidden', 'Only platform administrators may do this.')
  }
}

const presentUser = (row: UserRow): AdminUserView => ({
  id: row.id,
  email: row.email,
  name: row.name,
  isSuperadmin: row.is_superadmin,
  disabledAt: row.disabled_at ? new Date(row.disabled_at).toISOString() : null,
  createdAt: new Date(row.created_at).toISOString(),
})

/** Escapes LIKE wildcards so a search for "a_b" matches that text. */
function likeFragment(text: string) {
  return text.replace(/[\\%_]/g, (character) => `\\${character}`)
}

export const admin = {
  async users(
    principal: Principal,
    search: { email?: string } & PageRequest
  ): Promise<Page<AdminUserView>> {
    requireSuperadmin(principal)
    const query = db.from('identity_users')
    if (search.email) query.whereILike('email', `%${likeFragment(search.email.toLowerCase())}%`)
    return paginate<UserRow, AdminUserView>(query, search, {}, presentUser)
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
      const [row] = await trx
        .from('identity_users')
        .where('id', userId)
        .update({
          disabled_at: disabled ? trx.raw('coalesce(disabled_at, now())') : null,
          updated_at: trx.raw('now()'),
        })
        .returning('*')
      if (!row) throw new ProblemException(404, 'user_not_found', 'No such user.')
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
      return presentUser(row)
    })
  },

  async tenants(principal: Principal, page: PageRequest): Promise<Page<AdminTenantView>> {
    requireSuperadmin(principal)
    const query = db
      .from('identity_tenants as t')
      .select(
        't.*',
        db.raw(
          '(SELECT count(*)::int FROM identity_memberships m WHERE m.tenant_id = t.id) AS member_count'
        )
      )
    return paginate<
      { id: string; name: string; slug: string; member_count: number; created_at: Date },
      AdminTenantView
    >(query, page, { idColumn: 't.id' }, (row) => ({
      id: row.id,
      name: row.name,
      slug: row.slug,
      memberCount: row.member_count,
      createdAt: new Date(row.created_at).toISOString(),
    }))
  },
}
