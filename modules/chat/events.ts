/*
 * Integration events the chat module publishes. Conversations and messages
 * are private to their user: creating, renaming or archiving a conversation
 * is not an event at all, and `chat.message_completed` carries ids and usage
 * only — never a title or a word of the text — so a tenant's webhooks can
 * meter chat without reading it. `chat.assistant_published` is sent once,
 * when an assistant is first shared beyond its owner.
 */
declare module '#app/messaging/types' {
  interface IntegrationEvents {
    'chat.message_completed': {
      version: 1
      payload: {
        messageId: string
        conversationId: string
        userId: string
        model: string
        promptTokens: number | null
        completionTokens: number | null
      }
    }
    'chat.assistant_published': {
      version: 1
      payload: {
        assistantId: string
        name: string
        category: string
        visibility: 'private' | 'tenant' | 'public'
        ownerId: string
      }
    }
  }
}

const uuid = { type: 'string', format: 'uuid' }
const tokens = { type: ['integer', 'null'] }

/** The chat events tenants may receive by webhook (their payloads as published). */
export const CHAT_WEBHOOK_EVENTS = {
  'chat.message_completed': {
    description:
      'A reply was written in full: who, which model, and its tokens (never the text or the title).',
    payload: {
      type: 'object',
      required: [
        'messageId',
        'conversationId',
        'userId',
        'model',
        'promptTokens',
        'completionTokens',
      ],
      properties: {
        messageId: uuid,
        conversationId: uuid,
        userId: uuid,
        model: { type: 'string' },
        promptTokens: tokens,
        completionTokens: tokens,
      },
    },
  },
  'chat.assistant_published': {
    description:
      'An assistant was shared for the first time, with the tenant or publicly (its name, category and owner).',
    payload: {
      type: 'object',
      required: ['assistantId', 'name', 'category', 'visibility', 'ownerId'],
      properties: {
        assistantId: uuid,
        name: { type: 'string' },
        category: { type: 'string' },
        visibility: { enum: ['tenant', 'public'] },
        ownerId: uuid,
      },
    },
  },
}
