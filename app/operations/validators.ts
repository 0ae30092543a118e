import vine from '@vinejs/vine'
import { pageFields } from '#app/http/pagination'

export const operationListValidator = vine.compile(
  vine.object({
    status: vine.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']).optional(),
    kind: vine.string().trim().maxLength(80).optional(),
    ...pageFields,
  })
)
