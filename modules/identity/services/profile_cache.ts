import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { FeedCache } from '#app/platform/feed_cache'
import { PRINCIPALS_CHANNEL, type IdentityChange } from '#modules/identity/services/principal_cache'
import type { MembershipView } from '#modules/identity/services/accounts'

/** What GET /auth/me reads from the database for one user. */
export interface Profile {
  /** The user as the API shows it (`User#serialize`). */
  user: Record<string, unknown>
  isSuperadmin: boolean
  memberships: MembershipView[]
}

/**
 * A profile with more memberships than this is read every time: the cache's
 * memory stays bounded (2,000 entries of at most ~4 KB) whatever one user
 * belongs to, and the users who call GET /auth/me most — people in an app —
 * are in one or a few tenants.
 */
const MOST_MEMBERSHIPS_KEPT = 20

/**
 * GET /auth/me's answer per user, so the call every app makes on each start
 * and tab costs no query once it has been made. It stays right the way the
 * token check's cache does (principal_cache.ts, FeedCache's rules): the
 * identity tables' triggers announce `u:<user>` for any change to the user
 * or their memberships and `n:<tenant>` when a tenant is renamed or deleted
 * (migration …_profile_change_notify), whichever code path or process made
 * it; this process's own writes drop at their commit (`identityChanged`).
 * The answer is the user's own, read as the user under row-level security,
 * so it is keyed by the user alone.
 */
const cache = new FeedCache<Profile>(PRINCIPALS_CHANNEL, { max: 2_000, ttlMs: 60_000 }, drop)

function drop(change: string, entries: FeedCache<Profile>) {
  const id = change.slice(2)
  if (change.startsWith('u:')) return entries.delete(id)
  if (change.startsWith('n:')) {
    return entries.deleteWhere((profile) =>
      profile.memberships.some((membership) => membership.tenantId === id)
    )
  }
  // A session or a token revoked: the token check refuses it; the profile is unchanged.
  if (change.startsWith('s:') || change.startsWith('t:')) return
  entries.clear()
}

export const profileCache = {
  read(userId: string, load: () => Promise<Profile>): Promise<Profile> {
    return cache.read(userId, load, (profile) =>
      profile.memberships.length > MOST_MEMBERSHIPS_KEPT ? 0 : Number.POSITIVE_INFINITY
    )
  },

  changedOnCommit(trx: TransactionClientContract, change: IdentityChange) {
    cache.changedOnCommit(trx, (entries) => drop(change, entries))
  },

  /** Whether this user's profile is served from memory now. */
  holds(userId: string) {
    return cache.holds(userId)
  },
}
