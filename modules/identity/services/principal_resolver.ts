import type { Principal, PrincipalResolver } from '#app/auth/jwt_guard'
import { tokens } from '#modules/identity/services/tokens'
import { principalCache } from '#modules/identity/services/principal_cache'

/**
 * Bearer token → principal: signature and claims first (no I/O once keys are
 * cached), then the token's state — one indexed query, kept per process until
 * a change to it commits (principal_cache.ts) — so a disabled user, a
 * logged-out token or a removed or demoted member is seen at once rather than
 * when the token expires, and a request still costs no query for it.
 */
export const principalResolver: PrincipalResolver = {
  async resolve(token: string): Promise<Principal | null> {
    let claims
    try {
      claims = await tokens.verifyAccessToken(token)
    } catch {
      return null
    }
    const state = await principalCache.read(claims, () => tokens.principalState(claims))
    if (!state || state.disabled_at || state.revoked) return null
    return {
      userId: claims.sub,
      email: state.email,
      tenantId: claims.tid,
      membership:
        claims.tid && state.membership_role
          ? { tenantId: claims.tid, role: state.membership_role }
          : null,
      isSuperadmin: state.is_superadmin,
      tokenId: claims.jti,
      sessionId: claims.sid,
      expiresAt: claims.exp,
    }
  },
}
