import { column, computed } from '@adonisjs/lucid/orm'
import type { DateTime } from 'luxon'
import { internal } from '#app/platform/columns'
import { PlatformOperationSchema } from '#database/schema'
import type { OperationStatus } from '#app/operations/operations'

export const TERMINAL: OperationStatus[] = ['succeeded', 'failed', 'cancelled']

/**
 * A long job a client follows by id: status, progress, and its result once
 * finished. The input and the runner's lease (attempts, availableAt) stay
 * inside.
 */
export default class Operation extends PlatformOperationSchema {
  static table = 'platform_operations'

  @column(internal)
  declare tenantId: string
  @column(internal)
  declare input: unknown
  @column(internal)
  declare attempts: number
  @column.dateTime(internal)
  declare availableAt: DateTime
  @column.dateTime({ autoCreate: true, autoUpdate: true, ...internal })
  declare updatedAt: DateTime
  @column()
  declare status: OperationStatus
  @column(internal)
  declare result: unknown
  @column({ consume: (value: unknown) => value ?? null })
  declare error: unknown

  get finished() {
    return TERMINAL.includes(this.status)
  }

  /** A result is only meaningful once the operation has finished. */
  @computed({ serializeAs: 'result' })
  get finalResult(): unknown {
    return this.finished ? (this.result ?? null) : null
  }
}
