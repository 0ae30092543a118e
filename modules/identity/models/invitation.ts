import { column } from '@adonisjs/lucid/orm'
import type { DateTime } from 'luxon'
import { internal } from '#app/platform/columns'
import { IdentityInvitationSchema } from '#database/schema'
import type { MembershipRole } from '#modules/identity/models/membership'

/** An invitation into a tenant by email; only the SHA-256 of its token is stored. */
export default class Invitation extends IdentityInvitationSchema {
  static table = 'identity_invitations'

  @column(internal)
  declare tenantId: string
  @column(internal)
  declare tokenHash: string
  @column(internal)
  declare invitedBy: string | null
  @column(internal)
  declare acceptedBy: string | null
  @column.dateTime(internal)
  declare acceptedAt: DateTime | null
  @column.dateTime(internal)
  declare revokedAt: DateTime | null
  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime
  @column()
  declare role: MembershipRole
}
