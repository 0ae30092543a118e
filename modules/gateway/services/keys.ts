import { randomBytes } from 'node:crypto'
import { sha256Hex } from '#app/platform/digest'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { DateTime } from 'luxon'
import { ProblemException } from '#app/http/problem'
import { sentFields } from '#app/platform/columns'
import { isUuid, newId } from '#app/platform/ids'
import { notFound } from '#modules/gateway/services/admin_access'
import { changeFeed } from '#app/platform/change_feed'
import { KEYS_CHANNEL } from '#modules/gateway/services/change_feed'
import { isTenantMember } from '#modules/identity/index'
import GatewayKey from '#modules/gateway/models/gateway_key'
import { spendThisMonth } from '#modules/gateway/services/reports'

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

export const hashSecret = sha256Hex

/** `atr_` + 43 url-safe characters (256 random bits); the first 12 characters are kept for display. */
function newSecret() {
  const secret = `atr_${randomBytes(32).toString('base64url')}`
  return { secret, prefix: secret.slice(0, 12), hash: hashSecret(secret) }
}

/** Every process drops its cached copy of the key when this commits (this one at the commit). */
function announceChange(trx: TransactionClientContract, id: string) {
  return changeFeed.announce(trx, KEYS_CHANNEL, id)
}

export const keys = {
  async list(trx: TransactionClientContract) {
    const list = await GatewayKey.query({ client: trx }).orderBy('id', 'desc')
    const spend = await spendThisMonth(
      trx,
      list.map((key) => key.id)
    )
    return list.map((key) => ({ ...key.serialize(), spendThisMonth: spend.get(key.id) ?? [] }))
  },

  /** One key as the admin API shows it, with its spend this month. */
  async show(trx: TransactionClientContract, id: string) {
    const key = await this.find(trx, id)
    const spend = await spendThisMonth(trx, [key.id])
    return { ...key.serialize(), spendThisMonth: spend.get(key.id) ?? [] }
  },

  async find(trx: TransactionClientContract, id: string) {
    const key = isUuid(id) ? await GatewayKey.query({ client: trx }).where('id', id).first() : null
    if (!key) throw notFound('key')
    return key
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
    const key = await GatewayKey.create(
      {
        id: newId(),
        tenantId,
        userId: input.userId ?? null,
        createdBy,
        name: input.name,
        prefix,
        secretHash: hash,
        previousSecretHash: null,
        previousValidUntil: null,
        scopes: input.scopes ?? [...SCOPES],
        allowedModels: input.allowedModels ?? null,
        limits: input.limits ?? {},
        metadata: input.metadata ?? {},
        expiresAt: toDateTime(input.expiresAt),
        revokedAt: null,
        lastUsedAt: null,
      },
      { client: trx }
    )
    return { ...key.serialize(), secret }
  },

  async update(trx: TransactionClientContract, id: string, input: Partial<KeyInput>) {
    const key = await this.find(trx, id)
    if (key.revokedAt) throw revoked()
    assertFuture(input.expiresAt)
    // Who a key acts for is fixed at creation; the rest may change.
    const { name, scopes, allowedModels, limits, metadata, expiresAt } = input
    key.merge(sentFields({ name, scopes, allowedModels, limits, metadata }))
    if (expiresAt !== undefined) key.expiresAt = toDateTime(expiresAt)
    await key.useTransaction(trx).save()
    await announceChange(trx, id)
    return key.serialize()
  },

  /** A new secret; the current one keeps working for `graceSeconds` (0: stops at once). */
  async rotate(trx: TransactionClientContract, id: string, graceSeconds: number) {
    const key = await this.find(trx, id)
    if (key.revokedAt) throw revoked()
    const { secret, prefix, hash } = newSecret()
    key.merge({
      prefix,
      secretHash: hash,
      previousSecretHash: graceSeconds > 0 ? key.secretHash : null,
      previousValidUntil: graceSeconds > 0 ? DateTime.now().plus({ seconds: graceSeconds }) : null,
    })
    await key.useTransaction(trx).save()
    await announceChange(trx, id)
    return { ...key.serialize(), secret }
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
    if (key.revokedAt) return key.serialize()
    key.merge({ revokedAt: DateTime.now(), previousSecretHash: null, previousValidUntil: null })
    await key.useTransaction(trx).save()
    await announceChange(trx, id)
    return key.serialize()
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

function toDateTime(value: Date | null | undefined) {
  return value ? DateTime.fromJSDate(value) : null
}

function assertFuture(expiresAt: Date | null | undefined) {
  if (expiresAt && (Number.isNaN(expiresAt.getTime()) || expiresAt.getTime() <= Date.now())) {
    throw new ProblemException(422, 'validation_failed', 'The expiry must be a future date.', [
      { field: 'expiresAt', rule: 'future', message: 'Must be a valid date in the future' },
    ])
  }
}
