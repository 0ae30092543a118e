import { column } from '@adonisjs/lucid/orm'
import { internal, jsonb } from '#app/platform/columns'
import { ChatAssistantSchema } from '#database/schema'

export type Visibility = 'private' | 'tenant' | 'public'

/** A reusable setup for conversations: system prompt, model and parameters, starters. */
export default class Assistant extends ChatAssistantSchema {
  static table = 'chat_assistants'

  @column(internal)
  declare tenantId: string

  @column(jsonb)
  declare starters: string[]

  declare visibility: Visibility
}
