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
    /** Answer as this assistant (its prompt, model and parameters); the conversation keeps it. */
    assistantId: vine.string().uuid().optional(),
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

const visibility = vine.enum(['private', 'tenant', 'public'] as const)
const assistantFields = {
  description: vine.string().trim().maxLength(500).optional(),
  systemPrompt: vine.string().trim().maxLength(20_000).optional(),
  model: modelAlias.clone().nullable().optional(),
  temperature: vine.number().min(0).max(2).nullable().optional(),
  maxTokens: vine.number().withoutDecimals().min(1).max(32_768).nullable().optional(),
  starters: vine.array(vine.string().trim().minLength(1).maxLength(200)).maxLength(6).optional(),
  category: vine
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9][a-z0-9 _-]{0,49}$/)
    .optional(),
  visibility: visibility.optional(),
}
const assistantName = vine.string().trim().minLength(1).maxLength(100)

export const createAssistantValidator = vine.compile(
  vine.object({ name: assistantName.clone(), ...assistantFields })
)

export const updateAssistantValidator = vine.compile(
  vine.object({ name: assistantName.clone().optional(), ...assistantFields })
)

export const listAssistantsValidator = vine.compile(
  vine.object({ scope: vine.enum(['mine', 'favourites'] as const).optional(), ...pageFields })
)

export const exploreValidator = vine.compile(
  vine.object({
    q: vine.string().trim().minLength(1).maxLength(200).optional(),
    category: vine.string().trim().toLowerCase().maxLength(50).optional(),
    sort: vine.enum(['popular', 'new', 'featured'] as const).optional(),
    ...pageFields,
  })
)

export const featureValidator = vine.compile(vine.object({ featured: vine.boolean() }))

const day = vine.string().regex(/^\d{4}-\d{2}-\d{2}$/)

/** UTC days, both included; the last 30 days by default. */
export const myUsageValidator = vine.compile(
  vine.object({ from: day.clone().optional(), to: day.clone().optional() })
)

export const adminUsageValidator = vine.compile(
  vine.object({
    groupBy: vine.enum(['user', 'model', 'assistant'] as const).optional(),
    from: day.clone().optional(),
    to: day.clone().optional(),
  })
)

export const chatSettingsValidator = vine.compile(
  vine.object({
    /** The gateway aliases chat may use; null: every alias the tenant has. */
    allowedModels: vine.array(modelAlias.clone()).maxLength(100).nullable(),
  })
)
