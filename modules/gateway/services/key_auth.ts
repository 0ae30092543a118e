import db from '@adonisjs/lucid/services/db'
import { clock } from '#app/platform/clock'
import GatewayKey from '#modules/gateway/models/gateway_key'
import { hashSecret, type KeyLimits, type Scope } from '#modules/gateway/services/keys'
import { changeFeed, KEYS_CHANNEL } from '#modules/gateway/services/change_feed'

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

interface CacheEntry {
  key: ApiKeyPrincipal | null
  /** The entry stops being trusted at this time (expiry, end of a rotation's grace, or the TTL). */
  validUntil: number
}

const CACHE_TTL_MS = 60_000
const MAX_ENTRIES = 10_000

/**
 * Resolves `atr_…` secrets to keys. Lookups by SHA-256 go to PostgreSQL as
 * the platform (a key names its tenant), then sit in a per-process cache.
 * Every change to a key NOTIFYs in its transaction; each process LISTENs and
 * drops the entry (change_feed.ts), so a revoke holds everywhere at once.
 * While the feed is down nothing is cached.
 */
class KeyResolver {
  #cache = new Map<string, CacheEntry>()

  constructor() {
    changeFeed.on(KEYS_CHANNEL, (keyId) => this.#forget(keyId))
  }

  async resolve(secret: string): Promise<ApiKeyPrincipal | null> {
    if (!secret.startsWith('atr_') || secret.length > 100) return null
    const hash = hashSecret(secret)
    const cached = this.#cache.get(hash)
    if (cached && cached.validUntil > clock.now() && changeFeed.listening) return cached.key
    changeFeed.ensure()

    const row = await GatewayKey.query()
      .where('secret_hash', hash)
      .orWhere((query) =>
        query
          .where('previous_secret_hash', hash)
          .where('previous_valid_until', '>', db.raw('now()'))
      )
      .select('*', db.raw('secret_hash <> ? AS via_previous', [hash]))
      .first()
    const now = clock.now()
    const usable = row?.isUsable === true
    const key: ApiKeyPrincipal | null =
      row && usable
        ? {
            keyId: row.id,
            tenantId: row.tenantId,
            userId: row.userId,
            name: row.name,
            scopes: row.scopes,
            allowedModels: row.allowedModels,
            limits: row.limits ?? {},
          }
        : null
    const limits = [now + CACHE_TTL_MS]
    if (row && usable && row.expiresAt) limits.push(row.expiresAt.toMillis())
    if (row && usable && row.$extras.via_previous && row.previousValidUntil) {
      limits.push(row.previousValidUntil.toMillis())
    }
    if (changeFeed.listening) {
      if (this.#cache.size >= MAX_ENTRIES) this.#cache.clear()
      this.#cache.set(hash, { key, validUntil: Math.min(...limits) })
    }
    return key
  }

  /** A key changed (or '*': the feed was lost): drop it, and every negative entry. */
  #forget(keyId: string) {
    if (keyId === '*') return this.#cache.clear()
    for (const [hash, entry] of this.#cache) {
      if (!entry.key || entry.key.keyId === keyId) this.#cache.delete(hash)
    }
  }
}

export const keyResolver = new KeyResolver()
