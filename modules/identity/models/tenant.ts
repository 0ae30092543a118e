import { column, hasMany } from '@adonisjs/lucid/orm'
import type { HasMany } from '@adonisjs/lucid/types/relations'
import type { DateTime } from 'luxon'
import { internal } from '#app/platform/columns'
import { IdentityTenantSchema } from '#database/schema'
import Membership from '#modules/identity/models/membership'

/** A workspace: every tenant row elsewhere carries its id, and row-level security keys on it. */
export default class Tenant extends IdentityTenantSchema {
  static table = 'identity_tenants'

  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime

  @hasMany(() => Membership, { serializeAs: null })
  declare memberships: HasMany<typeof Membership>
}
