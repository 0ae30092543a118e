import { defineApi, ref, schema as s } from '#app/openapi/define'
import {
  activeLeafValidator,
  adminUsageValidator,
  chatSettingsValidator,
  createAssistantValidator,
  myUsageValidator,
  createConversationValidator,
  exploreValidator,
  featureValidator,
  listAssistantsValidator,
  updateAssistantValidator,
  forkValidator,
  listConversationsValidator,
  quotaValidator,
  regenerateValidator,
  searchValidator,
  sendMessageValidator,
  updateConversationValidator,
} from '#modules/chat/validators/conversations'

const missing = { 404: 'conversation_not_found (also someone else’s, or another tenant’s)' }
const missingMessage = {
  404: 'conversation_not_found or message_not_found (someone else’s are the same 404)',
}
const assistantMissing = {
  404: 'assistant_not_found (also someone else’s private one, or another tenant’s non-public one)',
}
const missingGeneration = { 404: 'generation_not_found (also someone else’s)' }
const refusals = {
  403: 'chat_disabled (an admin turned chat off for you), model_not_allowed',
  409: 'generation_in_progress: the reply you follow is still being written',
  422: 'validation_failed, parent_not_a_reply, not_a_reply',
  429: 'rate_limit_exceeded: your messages per minute or tokens per day (Retry-After, and what is left in the detail)',
  502: 'upstream_* : the model provider failed before anything was accepted',
  503: 'chat_not_configured: no gateway model with the default alias (CHAT_DEFAULT_MODEL)',
}
const acceptedOrStream = {
  202: {
    description:
      'The question and the reply’s ids at once; the reply is generated in the background. With Accept: text/event-stream, the reply’s events in this response instead (as GET /chat/generations/{id}/stream).',
    content: {
      'application/json': { schema: ref('ChatAccepted') },
      'text/event-stream': { schema: s.string },
    },
  },
}
const limitState = s.object({
  limit: s.nullable(s.integer),
  used: s.integer,
  remaining: s.nullable(s.integer),
  resetsAt: s.nullable(s.dateTime),
})
const quota = s.object({
  userId: s.nullable(s.uuid),
  messagesPerMinute: s.nullable(s.integer),
  tokensPerDay: s.nullable(s.integer),
  disabled: s.boolean,
})

const message = s.object({
  id: s.uuid,
  conversationId: s.uuid,
  parentId: s.described(s.nullable(s.uuid), 'The message this one follows; null for a first one'),
  role: s.enum(['user', 'assistant']),
  content: s.string,
  status: s.described(
    s.enum(['complete', 'generating', 'cancelled', 'failed']),
    'cancelled and failed replies keep the text written before they stopped'
  ),
  model: s.nullable(s.string),
  assistantId: s.nullable(s.uuid),
  promptTokens: s.nullable(s.integer),
  completionTokens: s.nullable(s.integer),
  errorCode: s.nullable(s.string),
  createdAt: s.dateTime,
  updatedAt: s.dateTime,
})

const usageRow = s.object({
  key: s.described(s.nullable(s.string), 'The day (YYYY-MM-DD) or the model alias'),
  replies: s.integer,
  promptTokens: s.integer,
  completionTokens: s.integer,
  users: s.integer,
})
const assistantUsageRow = s.object({
  key: s.described(s.nullable(s.uuid), 'The assistant (null: none)'),
  name: s.nullable(s.string),
  replies: s.integer,
  promptTokens: s.integer,
  completionTokens: s.integer,
  users: s.integer,
})

const assistant = s.object({
  id: s.uuid,
  ownerId: s.uuid,
  name: s.string,
  description: s.string,
  systemPrompt: s.string,
  model: s.described(s.nullable(s.string), 'A gateway model alias; null: CHAT_DEFAULT_MODEL'),
  temperature: s.nullable(s.number),
  maxTokens: s.nullable(s.integer),
  starters: s.described(s.array(s.string), 'Conversation starters a client can offer'),
  category: s.string,
  visibility: s.enum(['private', 'tenant', 'public']),
  forkedFrom: s.nullable(s.uuid),
  publishedAt: s.described(s.nullable(s.dateTime), 'When it was first shared beyond its owner'),
  createdAt: s.dateTime,
  updatedAt: s.dateTime,
})

export default defineApi(
  { name: 'chat', description: 'LLM conversations of each member (see docs/chat.md)' },
  {
    'GET /api/v1/chat/conversations': {
      id: 'chatListConversations',
      summary: 'Your conversations, newest first; q searches titles; archived=true lists those',
      query: listConversationsValidator,
      ok: { 200: s.pageOf(ref('ChatConversation')) },
    },
    'POST /api/v1/chat/conversations': {
      id: 'chatCreateConversation',
      summary: 'Start a conversation (titled “New conversation” unless you name it)',
      body: createConversationValidator,
      ok: { 201: ref('ChatConversation') },
      errors: { 409: 'conversation_limit_reached (CHAT_MAX_CONVERSATIONS_PER_USER)' },
    },
    'GET /api/v1/chat/conversations/{id}': {
      id: 'chatShowConversation',
      summary: 'One of your conversations',
      ok: { 200: ref('ChatConversation') },
      errors: missing,
    },
    'PATCH /api/v1/chat/conversations/{id}': {
      id: 'chatUpdateConversation',
      summary: 'Rename, pin or unpin, archive or restore',
      body: updateConversationValidator,
      ok: { 200: ref('ChatConversation') },
      errors: missing,
    },
    'DELETE /api/v1/chat/conversations/{id}': {
      id: 'chatDeleteConversation',
      summary: 'Delete a conversation (a reply still being written stops)',
      ok: { 204: null },
      errors: missing,
    },
    'GET /api/v1/chat/conversations/{id}/messages': {
      id: 'chatActivePath',
      summary: 'The branch shown: first message to the active leaf, each with its siblings’ ids',
      ok: { 200: ref('ChatPath') },
      errors: missing,
    },
    'GET /api/v1/chat/conversations/{id}/tree': {
      id: 'chatTree',
      summary: 'Every message of every branch, oldest first',
      ok: { 200: ref('ChatTree') },
      errors: missing,
    },
    'POST /api/v1/chat/conversations/{id}/messages': {
      id: 'chatSend',
      summary:
        'Ask: stores the question and starts the reply (same clientRequestId again: the same ids, one reply)',
      body: sendMessageValidator,
      ok: acceptedOrStream,
      errors: { ...missingMessage, ...refusals },
    },
    'POST /api/v1/chat/conversations/{id}/messages/{messageId}/regenerate': {
      id: 'chatRegenerate',
      summary: 'Another reply to the same question, as a sibling of this one',
      body: regenerateValidator,
      ok: acceptedOrStream,
      errors: { ...missingMessage, ...refusals },
    },
    'PUT /api/v1/chat/conversations/{id}/active-leaf': {
      id: 'chatSetActiveLeaf',
      summary: 'Choose the branch every client shows (a message, or the newest leaf under it)',
      body: activeLeafValidator,
      ok: { 200: ref('ChatConversation') },
      errors: missingMessage,
    },
    'POST /api/v1/chat/conversations/{id}/fork': {
      id: 'chatFork',
      summary: 'A new conversation holding this message’s ancestor chain only',
      body: forkValidator,
      ok: { 201: ref('ChatConversation') },
      errors: {
        ...missingMessage,
        409: 'conversation_limit_reached, message_generating',
      },
    },
    'GET /api/v1/chat/generations/{id}': {
      id: 'chatShowGeneration',
      summary: 'A reply’s generation: queued, running, completed, cancelled or failed',
      ok: { 200: ref('ChatGeneration') },
      errors: missingGeneration,
    },
    'GET /api/v1/chat/generations/{id}/stream': {
      id: 'chatStreamGeneration',
      summary:
        'Server-sent events: message.created, delta, usage, title, error, done; send Last-Event-ID to resume',
      ok: {
        200: {
          description:
            'An event stream; every event has an id, and reconnecting with Last-Event-ID replays what came after it',
          content: { 'text/event-stream': { schema: s.string } },
        },
      },
      errors: missingGeneration,
    },
    'POST /api/v1/chat/generations/{id}/cancel': {
      id: 'chatCancelGeneration',
      summary: 'Stop writing the reply; what it wrote stays, marked cancelled',
      ok: { 202: ref('ChatGeneration') },
      errors: missingGeneration,
    },
    'GET /api/v1/chat/assistants': {
      id: 'chatListAssistants',
      summary: 'Your assistants (scope=mine, default) or your favourites, newest first',
      query: listAssistantsValidator,
      ok: { 200: s.pageOf(ref('ChatAssistant')) },
    },
    'POST /api/v1/chat/assistants': {
      id: 'chatCreateAssistant',
      summary:
        'Make an assistant (private by default; tenant shares it; public needs an owner or admin)',
      body: createAssistantValidator,
      ok: { 201: ref('ChatAssistant') },
      errors: { 403: 'forbidden: only owners and admins make assistants public' },
    },
    'GET /api/v1/chat/assistants/{id}': {
      id: 'chatShowAssistant',
      summary: 'An assistant you can see (yours, your tenant’s, or a public one)',
      ok: { 200: ref('ChatAssistant') },
      errors: assistantMissing,
    },
    'PATCH /api/v1/chat/assistants/{id}': {
      id: 'chatUpdateAssistant',
      summary: 'Change an assistant (its owner, or an owner or admin of its tenant)',
      body: updateAssistantValidator,
      ok: { 200: ref('ChatAssistant') },
      errors: { ...assistantMissing, 403: 'not_assistant_owner, forbidden (public)' },
    },
    'DELETE /api/v1/chat/assistants/{id}': {
      id: 'chatDeleteAssistant',
      summary: 'Delete an assistant (its owner, or an owner or admin of its tenant)',
      ok: { 204: null },
      errors: { ...assistantMissing, 403: 'not_assistant_owner' },
    },
    'POST /api/v1/chat/assistants/{id}/fork': {
      id: 'chatForkAssistant',
      summary: 'Your own private copy of an assistant you can see',
      ok: { 201: ref('ChatAssistant') },
      errors: assistantMissing,
    },
    'PUT /api/v1/chat/assistants/{id}/favourite': {
      id: 'chatFavouriteAssistant',
      summary: 'Add to your favourites (idempotent)',
      ok: { 204: null },
      errors: assistantMissing,
    },
    'DELETE /api/v1/chat/assistants/{id}/favourite': {
      id: 'chatUnfavouriteAssistant',
      summary: 'Remove from your favourites (idempotent)',
      ok: { 204: null },
      errors: assistantMissing,
    },
    'PUT /api/v1/chat/admin/assistants/{id}/featured': {
      id: 'chatFeatureAssistant',
      summary: 'Feature an assistant in this tenant’s explore catalog, or stop (owners and admins)',
      body: featureValidator,
      ok: { 200: s.object({ assistantId: s.uuid, featured: s.boolean }) },
      errors: { ...assistantMissing, 422: 'assistant_private, validation_failed' },
    },
    'GET /api/v1/chat/explore': {
      id: 'chatExplore',
      summary:
        'Public and tenant-wide assistants: sort=popular (distinct users in 30 days, default), new (pages), featured',
      query: exploreValidator,
      ok: { 200: s.pageOf(ref('ChatExploredAssistant')) },
    },
    'GET /api/v1/chat/explore/categories': {
      id: 'chatExploreCategories',
      summary: 'The explore catalog’s categories and how many assistants each has',
      ok: {
        200: s.object({
          data: s.array(s.object({ category: s.string, assistants: s.integer })),
        }),
      },
    },
    'GET /api/v1/chat/search': {
      id: 'chatSearch',
      summary:
        'Search your own messages (words, "a phrase", -not), newest first, with highlighted fragments',
      query: searchValidator,
      ok: {
        200: s.pageOf(
          s.object({
            messageId: s.uuid,
            conversationId: s.uuid,
            conversationTitle: s.string,
            role: s.enum(['user', 'assistant']),
            createdAt: s.dateTime,
            highlight: s.described(
              s.array(s.object({ text: s.string, match: s.boolean })),
              'The fragments around the matches, as parts: match true for the words found'
            ),
          })
        ),
      },
    },
    'GET /api/v1/chat/me/quota': {
      id: 'chatMyQuota',
      summary: 'Your chat limits in this tenant and what is left of them now',
      ok: {
        200: s.object({
          disabled: s.boolean,
          messagesPerMinute: limitState,
          tokensPerDay: limitState,
        }),
      },
    },
    'GET /api/v1/chat/me/usage': {
      id: 'chatMyUsage',
      summary: 'Your replies and tokens by day, model and assistant (UTC days, last 30 by default)',
      query: myUsageValidator,
      ok: {
        200: s.object({
          from: s.dateTime,
          to: s.dateTime,
          byDay: s.array(usageRow),
          byModel: s.array(usageRow),
          byAssistant: s.array(assistantUsageRow),
        }),
      },
    },
    'GET /api/v1/chat/admin/usage': {
      id: 'chatAdminUsage',
      summary: 'The tenant’s chat usage grouped by user (default), model or assistant',
      query: adminUsageValidator,
      ok: {
        200: s.object({
          from: s.dateTime,
          to: s.dateTime,
          groupBy: s.enum(['user', 'model', 'assistant']),
          data: s.array({
            type: 'object',
            required: ['key', 'replies', 'promptTokens', 'completionTokens'],
            additionalProperties: false,
            properties: {
              key: s.nullable(s.string),
              name: s.nullable(s.string),
              replies: s.integer,
              promptTokens: s.integer,
              completionTokens: s.integer,
              users: s.integer,
            },
          }),
        }),
      },
    },
    'GET /api/v1/chat/admin/settings': {
      id: 'chatSettings',
      summary: 'The model aliases chat may use in this tenant (null: all)',
      ok: { 200: s.object({ allowedModels: s.nullable(s.array(s.string)) }) },
    },
    'PUT /api/v1/chat/admin/settings': {
      id: 'chatSaveSettings',
      summary: 'Limit chat to these model aliases (null: all); others answer 403 model_not_allowed',
      body: chatSettingsValidator,
      ok: { 200: s.object({ allowedModels: s.nullable(s.array(s.string)) }) },
    },
    'GET /api/v1/chat/admin/users/{userId}/conversations': {
      id: 'chatAdminUserConversations',
      summary: 'A member’s conversations (owners and admins); recorded in the audit log',
      ok: { 200: s.object({ data: s.array(ref('ChatConversation')) }) },
      errors: { 404: 'member_not_found' },
    },
    'GET /api/v1/chat/admin/conversations/{id}': {
      id: 'chatAdminConversation',
      summary:
        'Someone’s conversation with every message (owners and admins); recorded in the audit log',
      ok: {
        200: s.object({ conversation: ref('ChatConversation'), messages: s.array(message) }),
      },
      errors: missing,
    },
    'GET /api/v1/chat/admin/quotas': {
      id: 'chatListQuotas',
      summary: 'The tenant’s default chat limits and each user’s override (owners and admins)',
      ok: {
        200: s.object({
          default: quota,
          environment: s.object({
            messagesPerMinute: s.nullable(s.integer),
            tokensPerDay: s.nullable(s.integer),
          }),
          users: s.array(quota),
        }),
      },
    },
    'PUT /api/v1/chat/admin/quotas/default': {
      id: 'chatSetDefaultQuota',
      summary: 'Set the tenant’s default limits (null: the environment’s)',
      body: quotaValidator,
      ok: { 200: quota },
    },
    'PUT /api/v1/chat/admin/quotas/users/{userId}': {
      id: 'chatSetUserQuota',
      summary: 'Set a member’s own limits (null: the tenant default) or turn chat off for them',
      body: quotaValidator,
      ok: { 200: quota },
      errors: { 404: 'member_not_found' },
    },
  },
  {
    ChatConversation: s.object({
      id: s.uuid,
      userId: s.uuid,
      title: s.string,
      pinned: s.boolean,
      archivedAt: s.nullable(s.dateTime),
      activeLeafId: s.described(
        s.nullable(s.uuid),
        'The last message of the branch you chose; every client shows that branch'
      ),
      assistantId: s.described(
        s.nullable(s.uuid),
        'The assistant the conversation continues with (set by a message that names one)'
      ),
      createdAt: s.dateTime,
      updatedAt: s.dateTime,
    }),
    ChatMessage: message,
    ChatAssistant: assistant,
    ChatExploredAssistant: {
      ...assistant,
      properties: {
        ...(assistant.properties as Record<string, unknown>),
        usersLast30Days: s.described(s.integer, 'Distinct users in the last 30 days'),
        featured: s.described(s.boolean, 'Featured by this tenant’s admins'),
      },
      required: [...(assistant.required as string[]), 'usersLast30Days', 'featured'],
    },
    ChatPath: s.object({
      activeLeafId: s.nullable(s.uuid),
      data: s.array({
        ...message,
        properties: {
          ...(message.properties as Record<string, unknown>),
          siblingIds: s.described(
            s.array(s.uuid),
            'This message and its siblings (other versions), oldest first'
          ),
        },
        required: [...(message.required as string[]), 'siblingIds'],
      }),
    }),
    ChatTree: s.object({ activeLeafId: s.nullable(s.uuid), data: s.array(message) }),
    ChatGeneration: s.object({
      id: s.uuid,
      conversationId: s.uuid,
      clientRequestId: s.string,
      userMessageId: s.uuid,
      assistantMessageId: s.uuid,
      model: s.string,
      assistantId: s.nullable(s.uuid),
      status: s.enum(['queued', 'running', 'completed', 'cancelled', 'failed']),
      errorCode: s.nullable(s.string),
      finishedAt: s.nullable(s.dateTime),
      createdAt: s.dateTime,
      updatedAt: s.dateTime,
    }),
    ChatAccepted: s.object({
      userMessage: ref('ChatMessage'),
      assistantMessage: ref('ChatMessage'),
      generation: ref('ChatGeneration'),
    }),
  }
)
