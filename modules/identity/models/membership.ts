import { belongsTo, column, computed } from '@adonisjs/lucid/orm'
import type { BelongsTo } from '@adonisjs/lucid/types/relations'
import type { DateTime } from 'luxon'
import { internal } from '#app/platform/columns'
import { IdentityMembershipSchema } from '#database/schema'
import Tenant from '#modules/identity/models/tenant'
import User from '#modules/identity/models/user'

export type MembershipRole = 'owner' | 'admin' | 'agent' | 'member'

/**
 * A user's place in a tenant, with their role. Serialized as a member of the
 * tenant (with `user` preloaded): {userId, email, name, role, joinedAt}.
 */
export default class Membership extends IdentityMembershipSchema {
  static table = 'identity_memberships'

  @column({ isPrimary: true, ...internal })
  declare id: string
  @column(internal)
  declare tenantId: string
  @column()
  declare role: MembershipRole
  @column.dateTime({ autoCreate: true, serializeAs: 'joinedAt' })
  declare createdAt: DateTime
  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime

  @belongsTo(() => User, { serializeAs: null })
  declare user: BelongsTo<typeof User>

  @belongsTo(() => Tenant, { serializeAs: null })
  declare tenant: BelongsTo<typeof Tenant>

  @computed()
  get email(): string | undefined {
    return this.user?.email
  }

  @computed()
  get name(): string | undefined {
    return this.user?.name
  }
}
