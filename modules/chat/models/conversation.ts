import { column } from '@adonisjs/lucid/orm'
import { internal } from '#app/platform/columns'
import { ChatConversationSchema } from '#database/schema'

/**
 * One user's conversation. `activeLeafId` is the last message of the branch
 * the user chose, kept on the server so every client shows the same branch.
 */
export default class Conversation extends ChatConversationSchema {
  static table = 'chat_conversations'

  @column(internal)
  declare tenantId: string
}
