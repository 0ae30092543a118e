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

const clientRequestId = vine
  .string()
  .trim()
  .minLength(1)
  .maxLength(100)
  .regex(/^[\w.:-]+$/)
const modelAlias = vine.string().trim().minLength(1).maxLength(100)

/** A question; the client's own id for the request makes retries safe. */
export const sendMessageValidator = vine.compile(
  vine.object({
    content: vine.string().trim().minLength(1).maxLength(32_000),
    /** The reply this question follows; null starts again from the top; absent: the active leaf. */
    parentId: vine.string().uuid().nullable().optional(),
    model: modelAlias.clone().optional(),
    clientRequestId,
  })
)

export const regenerateValidator = vine.compile(
  vine.object({ model: modelAlias.clone().optional(), clientRequestId: clientRequestId.clone() })
)

export const activeLeafValidator = vine.compile(vine.object({ messageId: vine.string().uuid() }))

export const forkValidator = vine.compile(vine.object({ fromMessageId: vine.string().uuid() }))

const limit = (max: number) => vine.number().withoutDecimals().min(0).max(max).nullable().optional()

/** A tenant default or a user's override; null inherits (the default, then the environment). */
export const quotaValidator = vine.compile(
  vine.object({
    messagesPerMinute: limit(100_000),
    tokensPerDay: limit(1_000_000_000_000),
    disabled: vine.boolean().optional(),
  })
)

/** Words, "a phrase", -not: web search syntax over your own messages. */
export const searchValidator = vine.compile(
  vine.object({ q: vine.string().trim().minLength(1).maxLength(200), ...pageFields })
)
