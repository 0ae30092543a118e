import { createHash, randomBytes } from 'node:crypto'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { isUuid, newId } from '#app/platform/ids'
import { notFound } from '#modules/gateway/services/admin_access'
import { KEYS_CHANNEL } from '#modules/gateway/services/change_feed'
import { isTenantMember } from '#modules/identity/index'

export const SCOPES = ['chat', 'embeddings', 'models'] as const
export type Scope = (typeof SCOPES)[number]

export interface KeyLimits {
  requestsPerMinute?: number | null
  tokensPerMinute?: number | null
  tokensPerDay?: number | null
  monthlyBudget?: number | null
}

export interface KeyInput {
  name: string
  userId?: string | null
  scopes?: Scope[]
  allowedModels?: string[] | null
  limits?: KeyLimits
  metadata?: Record<string, unknown>
  expiresAt?: Date | null
}

export interface KeyRow {
  id: string
  tenant_id: string
  user_id: string | null
  name: string
  prefix: string
  secret_hash: string
  previous_secret_hash: string | null
  previous_valid_until: Date | null
  scopes: Scope[]
  allowed_models: string[] | null
  limits: KeyLimits
  metadata: Record<string, unknown>
  expires_at: Date | null
  revoked_at: Date | null
  last_used_at: Date | null
  created_at: Date
  updated_at: Date
}

export const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex')

/** `atr_` + 43 url-safe characters (256 random bits); the first 12 characters are kept for display. */
function newSecret() {
  const secret = `atr_${randomBytes(32).toString('base64url')}`
  return { secret, prefix: secret.slice(0, 12), hash: hashSecret(secret) }
}

const iso = (value: Date | null) => (value ? new Date(value).toISOString() : null)

export function presentKey(row: KeyRow) {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    userId: row.user_id,
    scopes: row.scopes,
    allowedModels: row.allowed_models,
    limits: row.limits,
    metadata: row.metadata,
    expiresAt: iso(row.expires_at),
    revokedAt: iso(row.revoked_at),
    previousSecretValidUntil: iso(row.previous_valid_until),
    lastUsedAt: iso(row.last_used_at),
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
  }
}

/** Every process drops its cached copy of the key when this commits. */
async function announceChange(trx: TransactionClientContract, id: string) {
  await trx.rawQuery('SELECT pg_notify(?, ?)', [KEYS_CHANNEL, id])
}

export const keys = {
  async list(trx: TransactionClientContract) {
    const rows: KeyRow[] = await trx.from('gateway_keys').orderBy('created_at', 'desc')
    return rows.map(presentKey)
  },

  async find(trx: TransactionClientContract, id: string): Promise<KeyRow> {
    const row = isUuid(id) ? await trx.from('gateway_keys').where('id', id).first() : null
    if (!row) throw notFound('key')
    return row
  },

  async create(
    trx: TransactionClientContract,
    tenantId: string,
    input: KeyInput,
    createdBy: string | null
  ) {
    assertFuture(input.expiresAt)
    if (input.userId) await assertMember(trx, tenantId, input.userId)
    const { secret, prefix, hash } = newSecret()
    const [row] = await trx
      .table('gateway_keys')
      .insert({
        id: newId(),
        tenant_id: tenantId,
        user_id: input.userId ?? null,
        created_by: createdBy,
        name: input.name,
        prefix,
        secret_hash: hash,
        scopes: input.scopes ?? [...SCOPES],
        allowed_models: input.allowedModels ?? null,
        limits: JSON.stringify(input.limits ?? {}),
        metadata: JSON.stringify(input.metadata ?? {}),
        expires_at: input.expiresAt ?? null,
      })
      .returning('*')
    return { ...presentKey(row), secret }
  },

  async update(trx: TransactionClientContract, id: string, input: Partial<KeyInput>) {
    const key = await this.find(trx, id)
    if (key.revoked_at) throw revoked()
    assertFuture(input.expiresAt)
    const changes: Record<string, unknown> = { updated_at: trx.raw('now()') }
    if (input.name !== undefined) changes.name = input.name
    if (input.scopes !== undefined) changes.scopes = input.scopes
    if (input.allowedModels !== undefined) changes.allowed_models = input.allowedModels
    if (input.limits !== undefined) changes.limits = JSON.stringify(input.limits)
    if (input.metadata !== undefined) changes.metadata = JSON.stringify(input.metadata)
    if (input.expiresAt !== undefined) changes.expires_at = input.expiresAt
    const [row] = await trx.from('gateway_keys').where('id', id).update(changes).returning('*')
    await announceChange(trx, id)
    return presentKey(row)
  },

  /** A new secret; the current one keeps working for `graceSeconds` (0: stops at once). */
  async rotate(trx: TransactionClientContract, id: string, graceSeconds: number) {
    const key = await this.find(trx, id)
    if (key.revoked_at) throw revoked()
    const { secret, prefix, hash } = newSecret()
    const [row] = await trx
      .from('gateway_keys')
      .where('id', id)
      .update({
        prefix,
        secret_hash: hash,
        previous_secret_hash: graceSeconds > 0 ? key.secret_hash : null,
        previous_valid_until:
          graceSeconds > 0 ? trx.raw('now() + make_interval(secs => ?)', [graceSeconds]) : null,
        updated_at: trx.raw('now()'),
      })
      .returning('*')
    await announceChange(trx, id)
    return { ...presentKey(row), secret }
  },

  /**
   * A member left the tenant: keys they created, or that act for them, stop
   * working. Keys belong to the tenant, but one a former member still holds
   * would keep their access alive; a remaining admin issues replacements.
   */
  async revokeForDepartedMember(trx: TransactionClientContract, tenantId: string, userId: string) {
    const revoked: Array<{ id: string }> = await trx
      .from('gateway_keys')
      .where('tenant_id', tenantId)
      .whereNull('revoked_at')
      .where((scope) => scope.where('created_by', userId).orWhere('user_id', userId))
      .update({
        revoked_at: trx.raw('now()'),
        previous_secret_hash: null,
        previous_valid_until: null,
        updated_at: trx.raw('now()'),
      })
      .returning('id')
    for (const { id } of revoked) await announceChange(trx, id)
    return revoked.length
  },

  async revoke(trx: TransactionClientContract, id: string) {
    const key = await this.find(trx, id)
    if (key.revoked_at) return presentKey(key)
    const [row] = await trx
      .from('gateway_keys')
      .where('id', id)
      .update({
        revoked_at: trx.raw('now()'),
        previous_secret_hash: null,
        previous_valid_until: null,
        updated_at: trx.raw('now()'),
      })
      .returning('*')
    await announceChange(trx, id)
    return presentKey(row)
  },
}

const revoked = () =>
  new ProblemException(409, 'key_revoked', 'This key is revoked; create a new one.')

async function assertMember(trx: TransactionClientContract, tenantId: string, userId: string) {
  if (!(await isTenantMember(trx, tenantId, userId))) {
    throw new ProblemException(422, 'validation_failed', 'The key can only belong to a member.', [
      { field: 'userId', rule: 'member', message: 'Not a member of this tenant' },
    ])
  }
}

function assertFuture(expiresAt: Date | null | undefined) {
  if (expiresAt && (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now())) {
    throw new ProblemException(422, 'validation_failed', 'The expiry must be a future date.', [
      { field: 'expiresAt', rule: 'future', message: 'Must be a valid date in the future' },
    ])
  }
}
