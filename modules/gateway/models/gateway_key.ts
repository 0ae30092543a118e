import { column } from '@adonisjs/lucid/orm'
import type { DateTime } from 'luxon'
import { clock } from '#app/platform/clock'
import { internal, jsonb } from '#app/platform/columns'
import { GatewayKeySchema } from '#database/schema'
import type { KeyLimits, Scope } from '#modules/gateway/services/keys'

/**
 * A tenant's API key. Only the SHA-256 of its secret is stored (and, during a
 * rotation's grace period, of the previous one); the secret is shown once.
 */
export default class GatewayKey extends GatewayKeySchema {
  static table = 'gateway_keys'

  @column(internal)
  declare tenantId: string
  @column(internal)
  declare createdBy: string | null
  @column(internal)
  declare secretHash: string
  @column(internal)
  declare previousSecretHash: string | null
  @column.dateTime({ serializeAs: 'previousSecretValidUntil' })
  declare previousValidUntil: DateTime | null
  @column()
  declare scopes: Scope[]
  @column()
  declare allowedModels: string[] | null
  @column(jsonb)
  declare limits: KeyLimits
  @column(jsonb)
  declare metadata: Record<string, unknown>

  /** Usable now: not revoked, not expired. */
  get isUsable() {
    return !this.revokedAt && (!this.expiresAt || this.expiresAt.toMillis() > clock.now())
  }
}
