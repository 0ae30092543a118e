import { randomBytes } from 'node:crypto'
import { sha256Hex } from '#app/platform/digest'
import db from '@adonisjs/lucid/services/db'
import { SignJWT, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose'
import { LRUCache } from 'lru-cache'
import type { PrincipalState } from '#modules/identity/services/principal_cache'
import { identityChanged } from '#modules/identity/services/identity_changes'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { newId, isUuid } from '#app/platform/ids'
import { SIGNING_ALGORITHM, signingKeys } from '#modules/identity/services/signing_keys'
import {
  ACCESS_TOKEN_TTL_SECONDS,
  REFRESH_TOKEN_TTL_SECONDS,
  TOKEN_AUDIENCE,
  tokenIssuer,
} from '#modules/identity/services/token_settings'

export interface AccessClaims {
  sub: string
  tid: string | null
  roles: string[]
  jti: string
  sid: string
  exp: number
}

export interface TokenPair {
  tokenType: 'Bearer'
  accessToken: string
  expiresIn: number
  refreshToken: string
  refreshExpiresIn: number
}

export class InvalidTokenError extends Error {}

/** What a refresh token's presenter gets back, or why not. */
export type RefreshOutcome =
  | { ok: true; userId: string; tenantId: string | null; familyId: string }
  | {
      ok: false
      reason: 'unknown' | 'expired' | 'revoked' | 'reused'
      userId?: string
      familyId?: string
      tenantId?: string | null
    }

const REFRESH_PREFIX = 'atr_rt_'

/**
 * Access tokens this process has verified, until they expire. An Ed25519
 * check costs more CPU than the rest of a small authenticated read, and a
 * client sends the same token for up to its lifetime, so each token is
 * verified once per process. Only the signature and claims are remembered:
 * revocation, a disabled user and membership are still read on every
 * request, and a hit is used only while its key is still trusted.
 */
const verifiedTokens = new LRUCache<string, { claims: AccessClaims; kid: string }>({
  max: 10_000,
})

export const tokens = {
  async signAccessToken(claims: {
    userId: string
    tenantId: string | null
    roles: string[]
    sessionId: string
  }) {
    const { kid, key } = await signingKeys.current()
    const jti = newId()
    const token = await new SignJWT({
      tid: claims.tenantId,
      roles: claims.roles,
      sid: claims.sessionId,
    })
      .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid, typ: 'at+jwt' })
      .setSubject(claims.userId)
      .setIssuer(tokenIssuer())
      .setAudience(TOKEN_AUDIENCE)
      .setJti(jti)
      .setIssuedAt()
      .setExpirationTime(`${ACCESS_TOKEN_TTL_SECONDS}s`)
      .sign(key)
    return { token, jti }
  },

  /**
   * Verifies signature (EdDSA only: `alg: none` and HS256-with-the-public-key
   * tricks are refused), issuer, audience, expiry and the claim shapes.
   */
  async verifyAccessToken(token: string): Promise<AccessClaims> {
    const remembered = verifiedTokens.get(token)
    if (remembered) {
      if (remembered.claims.exp * 1000 > Date.now() && signingKeys.trusts(remembered.kid)) {
        return remembered.claims
      }
      verifiedTokens.delete(token)
    }
    let kid: string | undefined
    try {
      kid = decodeProtectedHeader(token).kid
    } catch {
      throw new InvalidTokenError('malformed token')
    }
    if (!kid) throw new InvalidTokenError('token has no key id')
    const key = await signingKeys.forKid(kid)
    if (!key) throw new InvalidTokenError('unknown or retired signing key')

    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, key, {
        algorithms: [SIGNING_ALGORITHM],
        issuer: tokenIssuer(),
        audience: TOKEN_AUDIENCE,
        typ: 'at+jwt',
        requiredClaims: ['sub', 'jti', 'exp', 'iat'],
      }))
    } catch (error) {
      throw new InvalidTokenError((error as Error).message)
    }
    const { sub, jti, exp, tid, roles, sid } = payload as JWTPayload & Record<string, unknown>
    const shapesOk =
      typeof sub === 'string' &&
      isUuid(sub) &&
      typeof jti === 'string' &&
      isUuid(jti) &&
      typeof sid === 'string' &&
      isUuid(sid) &&
      (tid === null || (typeof tid === 'string' && isUuid(tid))) &&
      Array.isArray(roles) &&
      roles.every((role) => typeof role === 'string')
    if (!shapesOk) throw new InvalidTokenError('token claims have the wrong shape')
    // Frozen: every later request holding this token gets this same object.
    const claims: AccessClaims = Object.freeze({
      sub,
      jti,
      exp: exp!,
      tid: tid as string | null,
      roles: Object.freeze([...(roles as string[])]) as string[],
      sid,
    })
    verifiedTokens.set(token, { claims, kid }, { ttl: Math.max(1, exp! * 1000 - Date.now()) })
    return claims
  },

  async issuePair(
    trx: TransactionClientContract,
    subject: { userId: string; tenantId: string | null; roles: string[] },
    familyId = newId()
  ): Promise<TokenPair> {
    const refreshToken = `${REFRESH_PREFIX}${randomBytes(32).toString('base64url')}`
    await trx.table('identity_refresh_tokens').insert({
      id: newId(),
      family_id: familyId,
      user_id: subject.userId,
      active_tenant_id: subject.tenantId,
      token_hash: hashRefreshToken(refreshToken),
      expires_at: trx.raw(`now() + make_interval(secs => ?)`, [REFRESH_TOKEN_TTL_SECONDS]),
    })
    const { token } = await tokens.signAccessToken({ ...subject, sessionId: familyId })
    return {
      tokenType: 'Bearer',
      accessToken: token,
      expiresIn: ACCESS_TOKEN_TTL_SECONDS,
      refreshToken,
      refreshExpiresIn: REFRESH_TOKEN_TTL_SECONDS,
    }
  },

  /**
   * Consumes a refresh token (single use). Presenting one that was already
   * used means it leaked: the whole family (every token descended from the
   * same login) is revoked.
   */
  async consumeRefreshToken(
    trx: TransactionClientContract,
    presented: string
  ): Promise<RefreshOutcome> {
    if (!presented.startsWith(REFRESH_PREFIX) || presented.length > 100)
      return { ok: false, reason: 'unknown' }
    const row = await trx
      .from('identity_refresh_tokens')
      .where('token_hash', hashRefreshToken(presented))
      .forUpdate()
      .first()
    if (!row) return { ok: false, reason: 'unknown' }
    const who = {
      userId: row.user_id as string,
      familyId: row.family_id as string,
      tenantId: row.active_tenant_id as string | null,
    }
    if (row.revoked_at) return { ok: false, reason: 'revoked', ...who }
    if (row.used_at) {
      await tokens.revokeFamily(trx, row.family_id)
      return { ok: false, reason: 'reused', ...who }
    }
    if (new Date(row.expires_at).getTime() <= Date.now())
      return { ok: false, reason: 'expired', ...who }
    await trx
      .from('identity_refresh_tokens')
      .where('id', row.id)
      .update({ used_at: trx.raw('now()') })
    return {
      ok: true,
      userId: row.user_id,
      tenantId: row.active_tenant_id,
      familyId: row.family_id,
    }
  },

  async revokeFamily(trx: TransactionClientContract, familyId: string) {
    await trx
      .from('identity_refresh_tokens')
      .where('family_id', familyId)
      .whereNull('revoked_at')
      .update({ revoked_at: trx.raw('now()') })
    identityChanged(trx, `s:${familyId}`)
  },

  /** Denies an access token until it would have expired anyway. */
  async denyAccessToken(trx: TransactionClientContract, jti: string, exp: number) {
    await trx
      .table('identity_revoked_access_tokens')
      .insert({ jti, expires_at: new Date(exp * 1000) })
      .onConflict('jti')
      .ignore()
    identityChanged(trx, `t:${jti}`)
  },

  /**
   * One round trip per request: is the user active, is this token (and its
   * session) still allowed, and what is their membership in the token's tenant right now
   * (null once removed). Authorization reads the role from here, not from
   * the token's claims.
   */
  async principalState(claims: Pick<AccessClaims, 'sub' | 'jti' | 'sid' | 'tid'>) {
    // A revoked session (logout, refresh-token reuse, tenant switch, account disabled)
    // takes every access token issued for it along: they all carry its id as `sid`.
    const { rows } = await db.rawQuery(
      `SELECT u.id, u.email, u.is_superadmin, u.disabled_at,
              EXISTS (SELECT 1 FROM identity_revoked_access_tokens r WHERE r.jti = ?)
                OR EXISTS (SELECT 1 FROM identity_refresh_tokens f
                            WHERE f.family_id = ? AND f.revoked_at IS NOT NULL) AS revoked,
              m.role AS membership_role
         FROM identity_users u
         LEFT JOIN identity_memberships m ON m.user_id = u.id AND m.tenant_id = ?
        WHERE u.id = ?`,
      [claims.jti, claims.sid, claims.tid, claims.sub]
    )
    return rows[0] as PrincipalState | undefined
  },
}

export const hashRefreshToken = sha256Hex
