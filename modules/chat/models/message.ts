import { column } from '@adonisjs/lucid/orm'
import { internal } from '#app/platform/columns'
import { ChatMessageSchema } from '#database/schema'

export type MessageRole = 'user' | 'assistant'
/** `generating` while its reply streams; `cancelled` and `failed` keep the partial text. */
export type MessageStatus = 'complete' | 'generating' | 'cancelled' | 'failed'

/** One node of a conversation's tree: its parent is the message it answers or follows. */
export default class Message extends ChatMessageSchema {
  static table = 'chat_messages'

  @column(internal)
  declare tenantId: string

  @column(internal)
  declare userId: string

  declare role: MessageRole
  declare status: MessageStatus
}
