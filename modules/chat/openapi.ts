import { defineApi, ref, schema as s } from '#app/openapi/define'
import {
  createConversationValidator,
  listConversationsValidator,
  updateConversationValidator,
} from '#modules/chat/validators/conversations'

const missing = { 404: 'conversation_not_found (also someone else’s, or another tenant’s)' }

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
      summary: 'Delete a conversation',
      ok: { 204: null },
      errors: missing,
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
      createdAt: s.dateTime,
      updatedAt: s.dateTime,
    }),
  }
)
