import { column, computed } from '@adonisjs/lucid/orm'
import type { DateTime } from 'luxon'
import { internal } from '#app/platform/columns'
import { IdentityUserSchema } from '#database/schema'

/** An account. Global (not a tenant's): tenants reach users through memberships. */
export default class User extends IdentityUserSchema {
  static table = 'identity_users'

  @column(internal)
  declare passwordHash: string
  @column.dateTime(internal)
  declare emailVerifiedAt: DateTime | null
  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime

  /** Proven by a code sent to the address; only verified accounts can be added to tenants by email. */
  @computed()
  get emailVerified() {
    return this.emailVerifiedAt !== null
  }
}
