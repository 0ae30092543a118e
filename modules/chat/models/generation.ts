import { column } from '@adonisjs/lucid/orm'
import type { DateTime } from 'luxon'
import { internal, jsonb } from '#app/platform/columns'
import { ChatGenerationSchema } from '#database/schema'
import type { ChatParams, Ticket } from '#modules/gateway/index'

export type GenerationStatus = 'queued' | 'running' | 'completed' | 'cancelled' | 'failed'

/** The background work writing one assistant message (claimed like a job; see the migration). */
export default class Generation extends ChatGenerationSchema {
  static table = 'chat_generations'

  @column(internal)
  declare tenantId: string

  @column(internal)
  declare userId: string

  @column(internal)
  declare attempts: number

  @column.dateTime(internal)
  declare dueAt: DateTime

  @column({ ...jsonb, ...internal })
  declare ticket: Ticket | null

  @column({ ...jsonb, ...internal })
  declare prompt: ChatParams['messages'] | null

  @column(internal)
  declare cancelRequested: boolean

  /** The assistant's parameters for the call (temperature, max tokens). */
  @column({ ...jsonb, ...internal })
  declare params: { temperature?: number; maxTokens?: number } | null

  /** Whether the reply's end writes the conversation's title (its first reply, still untitled). */
  @column(internal)
  declare wantsTitle: boolean

  declare status: GenerationStatus
}
