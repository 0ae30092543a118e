/*
| Public face of the chat module: what other modules may import (facade
| functions and types). Its integration events come with it.
*/
import '#modules/chat/events'

export type { ConversationView } from '#modules/chat/services/conversations'
