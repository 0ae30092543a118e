import db from '@adonisjs/lucid/services/db'
import { clock } from '#app/platform/clock'
import GatewayKey from '#modules/gateway/models/gateway_key'
import { hashSecret, type KeyLimits, type Scope } from '#modules/gateway/services/keys'
import { KEYS_CHANNEL } from '#modules/gateway/services/change_feed'
import { FeedCache } from '#app/platform/feed_cache'

/** What a request authenticated by an API key acts as. */
export interface ApiKeyPrincipal {
  keyId: string
  tenantId: string
  userId: string | null
  name: string
  scopes: Scope[]
  allowedModels: string[] | null
  limits: KeyLimits
}

const CACHE_TTL_MS = 60_000

/**
 * Resolves `atr_…` secrets to keys. Lookups by SHA-256 go to PostgreSQL as
 * the platform (a key names its tenant), then sit in a per-process cache.
 * Every change to a key NOTIFYs in its transaction; each process LISTENs and
 * drops the entry (FeedCache), so a revoke holds everywhere at once. While
 * the feed is not heard nothing is cached.
 */
class KeyResolver {
  // A key change drops the key, and every negative entry (a new key may now match).
  #cache = new FeedCache<ApiKeyPrincipal | null>(
    KEYS_CHANNEL,
    { max: 10_000, ttlMs: CACHE_TTL_MS },
    (keyId, entries) => entries.deleteWhere((key) => !key || key.keyId === keyId)
  )

  async resolve(secret: string): Promise<ApiKeyPrincipal | null> {
    if (!secret.startsWith('atr_') || secret.length > 100) return null
    const hash = hashSecret(secret)
    let validUntil = Number.POSITIVE_INFINITY
    return this.#cache.read(
      hash,
      async () => {
        const row = await GatewayKey.query()
          .where('secret_hash', hash)
          .orWhere((query) =>
            query
              .where('previous_secret_hash', hash)
              .where('previous_valid_until', '>', db.raw('now()'))
          )
          .select('*', db.raw('secret_hash <> ? AS via_previous', [hash]))
          .first()
        if (!row || !row.isUsable) return null
        // The entry stops being trusted at expiry or at the end of a rotation's grace.
        if (row.expiresAt) validUntil = Math.min(validUntil, row.expiresAt.toMillis())
        if (row.$extras.via_previous && row.previousValidUntil) {
          validUntil = Math.min(validUntil, row.previousValidUntil.toMillis())
        }
        return {
          keyId: row.id,
          tenantId: row.tenantId,
          userId: row.userId,
          name: row.name,
          scopes: row.scopes,
          allowedModels: row.allowedModels,
          limits: row.limits ?? {},
        }
      },
      () => validUntil - clock.now()
    )
  }
}

export const keyResolver = new KeyResolver()
