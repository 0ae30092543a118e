import { column } from '@adonisjs/lucid/orm'
import { internal, int8 } from '#app/platform/columns'
import { ChatQuotaSchema } from '#database/schema'

/** A tenant's default chat limits (userId null) or one user's override; null fields inherit. */
export default class ChatQuota extends ChatQuotaSchema {
  static table = 'chat_quotas'

  @column(internal)
  declare tenantId: string

  @column(int8)
  declare tokensPerDay: number | null
}
