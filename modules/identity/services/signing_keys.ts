import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'
import encryption from '@adonisjs/core/services/encryption'
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose'
import { newId } from '#app/platform/ids'
import { recordAudit } from '#modules/identity/services/audit'
import { ACCESS_TOKEN_TTL_SECONDS } from '#modules/identity/services/token_settings'

export const SIGNING_ALGORITHM = 'EdDSA'
/** How long a process trusts its cached key set before re-reading it (rotation by another process shows up within this). */
const CACHE_TTL_MS = 60_000
/** Clock skew allowed between processes when a retired key stops verifying. */
const SKEW_SECONDS = 60

interface KeyRow {
  kid: string
  algorithm: string
  public_jwk: JWK
  private_jwk_encrypted: string
  created_at: Date
  retired_at: Date | null
  verify_until: Date | null
}

interface LoadedKeys {
  loadedAt: number
  signing: { kid: string; key: CryptoKey } | null
  verifying: Map<string, CryptoKey>
  published: JWK[]
}

let cache: LoadedKeys | null = null
/** A cache refresh already under way: concurrent requests share it instead of each reading. */
let refreshing: Promise<LoadedKeys> | null = null
const UNKNOWN_KID_RELOAD_INTERVAL_MS = 1000
let lastUnknownKidReloadAt = 0

/**
 * Ed25519 signing keys, kept in the database (private halves encrypted with
 * APP_KEY) so every process signs and verifies with the same set, and
 * published at /.well-known/jwks.json so split-out services verify offline.
 */
export const signingKeys = {
  /** The key that signs new tokens; created on first use. */
  async current() {
    let keys = await load()
    if (!keys.signing) {
      await createKeyIfNone()
      keys = await load(true)
    }
    if (!keys.signing) throw new Error('No signing key could be created')
    return keys.signing
  },

  /** A key that may verify a token with this kid: active, or retired but within its grace period. */
  async forKid(kid: string) {
    const keys = await load()
    const known = keys.verifying.get(kid)
    if (known) return known
    // An unknown kid may be a key another process just created: re-read, but at most once
    // a second — otherwise any forged kid would buy a database read per request. A token
    // signed by a brand-new key may therefore be refused for up to that second.
    if (Date.now() - lastUnknownKidReloadAt < UNKNOWN_KID_RELOAD_INTERVAL_MS) return null
    lastUnknownKidReloadAt = Date.now()
    const reloaded = await load(true)
    return reloaded.verifying.get(kid) ?? null
  },

  /**
   * Whether `kid` is in the key set this process read less than a cache
   * period ago — no I/O, for tokens verified earlier. False when the set is
   * stale, so the caller verifies again (which re-reads it).
   */
  trusts(kid: string) {
    return isFresh(cache) && cache.verifying.has(kid)
  },

  async jwks() {
    await signingKeys.current()
    const keys = await load()
    return { keys: keys.published }
  },

  /**
   * Retires the signing key (it keeps verifying until its last token expires)
   * and makes a new one. Returns the kids.
   */
  async rotate() {
    const kid = newId()
    const material = await generateMaterial(kid)
    const retired = await db.transaction(async (trx) => {
      await trx.rawQuery('SELECT pg_advisory_xact_lock(hashtext(?))', ['identity_signing_keys'])
      const retiring = await trx
        .from('identity_signing_keys')
        .whereNull('retired_at')
        .update({
          retired_at: trx.raw('now()'),
          verify_until: trx.raw(`now() + make_interval(secs => ?)`, [
            ACCESS_TOKEN_TTL_SECONDS + SKEW_SECONDS,
          ]),
        })
        .returning('kid')
      await trx.table('identity_signing_keys').insert(material)
      return retiring.map((row: { kid: string }) => row.kid)
    })
    cache = null
    await recordAudit('keys.rotated', { details: { newKid: kid, retiredKids: retired } })
    return { newKid: kid, retiredKids: retired }
  },

  /** Drops the in-process cache (tests, and after rotation). */
  forget() {
    cache = null
  },
}

async function generateMaterial(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, {
    crv: 'Ed25519',
    extractable: true,
  })
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: SIGNING_ALGORITHM, use: 'sig' }
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALGORITHM }
  return {
    kid,
    algorithm: SIGNING_ALGORITHM,
    public_jwk: JSON.stringify(publicJwk),
    private_jwk_encrypted: encryption.encrypt(
      JSON.stringify(privateJwk),
      undefined,
      'identity.signing_key'
    ),
  }
}

/**
 * APP_KEY changed, so the signing key's private half is unreadable. Signing
 * keys are disposable: retire it (its public half keeps verifying tokens
 * already issued) and let the next signature create a new one.
 */
async function retireUnreadable(kid: string) {
  logger.error(
    { kid },
    'JWT signing key cannot be decrypted (was APP_KEY changed?); retiring it and creating a new one. ' +
      'Other secrets encrypted with the old APP_KEY are unreadable too.'
  )
  await db
    .from('identity_signing_keys')
    .where('kid', kid)
    .whereNull('retired_at')
    .update({
      retired_at: db.raw('now()'),
      verify_until: db.raw(`now() + make_interval(secs => ?)`, [
        ACCESS_TOKEN_TTL_SECONDS + SKEW_SECONDS,
      ]),
    })
  await recordAudit('keys.rotated', { details: { retiredKids: [kid], reason: 'undecryptable' } })
}

async function createKeyIfNone() {
  const kid = newId()
  const material = await generateMaterial(kid)
  await db.transaction(async (trx) => {
    // Two processes starting together must not both create the first key.
    await trx.rawQuery('SELECT pg_advisory_xact_lock(hashtext(?))', ['identity_signing_keys'])
    const existing = await trx.from('identity_signing_keys').whereNull('retired_at').first()
    if (!existing) await trx.table('identity_signing_keys').insert(material)
  })
}

function isFresh(keys: LoadedKeys | null): keys is LoadedKeys {
  return keys !== null && Date.now() - keys.loadedAt < CACHE_TTL_MS
}

async function load(force = false): Promise<LoadedKeys> {
  if (!force && isFresh(cache)) return cache
  if (force) return read()
  refreshing ??= read().finally(() => (refreshing = null))
  return refreshing
}

async function read(): Promise<LoadedKeys> {
  const rows: KeyRow[] = await db
    .from('identity_signing_keys')
    .where((query) => query.whereNull('verify_until').orWhere('verify_until', '>', db.raw('now()')))
    .orderBy('created_at', 'desc')

  const verifying = new Map<string, CryptoKey>()
  for (const row of rows) {
    verifying.set(row.kid, (await importJWK(row.public_jwk, SIGNING_ALGORITHM)) as CryptoKey)
  }
  const active = rows.find((row) => row.retired_at === null)
  let signing: LoadedKeys['signing'] = null
  if (active) {
    const json = encryption.decrypt<string>(active.private_jwk_encrypted, 'identity.signing_key')
    if (!json) {
      await retireUnreadable(active.kid)
      return load(true)
    }
    signing = {
      kid: active.kid,
      key: (await importJWK(JSON.parse(json) as JWK, SIGNING_ALGORITHM)) as CryptoKey,
    }
  }
  cache = { loadedAt: Date.now(), signing, verifying, published: rows.map((row) => row.public_jwk) }
  return cache
}
