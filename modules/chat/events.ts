/*
 * Integration events the chat module publishes. `chat.message_completed` and
 * `chat.assistant_published` come with replies and assistants. Conversations
 * themselves are private to their user, so creating, renaming or archiving
 * one is deliberately not an event: a tenant's webhooks would leak titles.
 */
export const CHAT_WEBHOOK_EVENTS = {}
