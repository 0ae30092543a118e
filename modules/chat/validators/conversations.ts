import vine from '@vinejs/vine'
import { pageFields } from '#app/http/pagination'

const title = vine.string().trim().minLength(1).maxLength(200)

export const createConversationValidator = vine.compile(
  vine.object({ title: title.clone().optional() })
)

/** Rename, pin or unpin, archive or restore; what is not sent stays. */
export const updateConversationValidator = vine.compile(
  vine.object({
    title: title.clone().optional(),
    pinned: vine.boolean().optional(),
    archived: vine.boolean().optional(),
  })
)

export const listConversationsValidator = vine.compile(
  vine.object({
    /** Part of the title. */
    q: vine.string().trim().minLength(1).maxLength(200).optional(),
    /** Archived ones only (true) or none of them (default). */
    archived: vine.boolean().optional(),
    pinned: vine.boolean().optional(),
    ...pageFields,
  })
)
