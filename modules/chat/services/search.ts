import type { TenantActor } from '#app/auth/policies'
import { paginate, type PageRequest } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import Message from '#modules/chat/models/message'

// Marks around each match, split out below: a client gets structured parts, never markup to trust.
const START = '\u0001'
const STOP = '\u0002'
const HEADLINE_OPTIONS = `StartSel=${START}, StopSel=${STOP}, MaxWords=30, MinWords=8, MaxFragments=2, FragmentDelimiter=" … "`

/** A headline with marks as parts: `[{ text, match }]`. */
export function highlightParts(headline: string) {
  const parts: Array<{ text: string; match: boolean }> = []
  for (const piece of headline.split(START)) {
    const [matched, rest] = piece.includes(STOP) ? piece.split(STOP, 2) : [null, piece]
    if (matched) parts.push({ text: matched, match: true })
    if (rest) parts.push({ text: rest, match: false })
  }
  return parts
}

/**
 * Full-text search over the caller's own messages, on the stored tsvector
 * (GIN index): words in any order, "quoted phrases", -excluded words (web
 * search syntax), newest first, each hit with its highlighted fragments.
 */
export function searchMessages(actor: TenantActor, input: PageRequest & { q: string }) {
  return inActiveTenant(actor, (trx) => {
    // The @@ match and ts_headline are PostgreSQL full text search: they stay SQL.
    const query = Message.query({ client: trx })
      .join('chat_conversations as c', 'c.id', 'chat_messages.conversation_id')
      .where('chat_messages.user_id', actor.userId)
      .whereRaw(`chat_messages.search @@ websearch_to_tsquery('simple', ?)`, [input.q])
      .select(
        'chat_messages.id',
        'chat_messages.conversation_id',
        'chat_messages.role',
        'chat_messages.created_at',
        'c.title as conversation_title'
      )
      .select(
        trx.raw(
          `ts_headline('simple', chat_messages.content, websearch_to_tsquery('simple', ?), ?) AS headline`,
          [input.q, HEADLINE_OPTIONS]
        )
      )
    return paginate(
      query,
      input,
      { idColumn: 'chat_messages.id', idValue: (message) => message.id },
      (message) => ({
        messageId: message.id,
        conversationId: message.conversationId,
        conversationTitle: message.$extras.conversation_title as string,
        role: message.role,
        createdAt: message.createdAt.toISO()!,
        highlight: highlightParts(String(message.$extras.headline ?? '')),
      })
    )
  })
}
