import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { FeedCache } from '#app/platform/feed_cache'
import type { TenantRole } from '#app/auth/jwt_guard'

/** The channel the identity tables' triggers NOTIFY on (migration …_principal_change_notify). */
export const PRINCIPALS_CHANNEL = 'atrium_identity_principals'

/** What the token check reads from the database for one access token. */
export interface PrincipalState {
  email: string
  is_superadmin: boolean
  disabled_at: Date | null
  revoked: boolean
  membership_role: TenantRole | null
}

/**
 * What a trigger announces: `u:<user>` (the user or any of their
 * memberships), `s:<session>`, `t:<jti>`, `n:<tenant>` (renamed or deleted).
 */
export type IdentityChange = `${'u' | 's' | 't' | 'n'}:${string}`

interface Entry {
  userId: string
  sessionId: string
  state: PrincipalState | undefined
}

/**
 * The token check's answer per access token (by `jti`), so an authenticated
 * request costs no query for it. Safe because the identity tables announce
 * every change that could alter an answer themselves (triggers NOTIFY
 * `u:<user>` for the user or any membership, `s:<session>` for a revoked
 * refresh family, `t:<jti>` for a denied token), whichever code path made
 * it; FeedCache keeps the other rules (nothing cached while not heard, no
 * stale answer put back by a racing read).
 */
const cache = new FeedCache<Entry>(
  PRINCIPALS_CHANNEL,
  // An hour of tokens for a few thousand users; an entry is ~300 bytes.
  { max: 50_000, ttlMs: 60_000 },
  drop
)

function drop(change: string, entries: FeedCache<Entry>) {
  const id = change.slice(2)
  if (change.startsWith('t:')) return entries.delete(id)
  if (change.startsWith('u:')) return entries.deleteWhere((entry) => entry.userId === id)
  if (change.startsWith('s:')) return entries.deleteWhere((entry) => entry.sessionId === id)
  // A tenant renamed (for GET /auth/me's cache): no token's state mentions a tenant's name.
  if (change.startsWith('n:')) return
  entries.clear()
}

export const principalCache = {
  async read(
    claims: { jti: string; sub: string; sid: string; exp: number },
    load: () => Promise<PrincipalState | undefined>
  ): Promise<PrincipalState | undefined> {
    const entry = await cache.read(
      claims.jti,
      async () => ({ userId: claims.sub, sessionId: claims.sid, state: await load() }),
      () => claims.exp * 1000 - Date.now()
    )
    return entry.state
  },

  /**
   * A change this process makes: its entries go at commit, before the
   * response is sent. Call `identityChanged` (identity_changes.ts), which
   * tells every identity cache.
   */
  changedOnCommit(trx: TransactionClientContract, change: IdentityChange) {
    cache.changedOnCommit(trx, (entries) => drop(change, entries))
  },

  /** Whether this access token's state is served from memory now. */
  holds(jti: string) {
    return cache.holds(jti)
  },
}
