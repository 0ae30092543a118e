import type { TenantActor } from '#app/auth/policies'
import {
  DEFAULT_LIMIT,
  decodeCursor,
  encodeCursor,
  invalidCursor,
  type PageRequest,
} from '#app/http/pagination'
import { isUuid } from '#app/platform/ids'
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
 * The matching ids come from chat_search_ids (see its migration: the index
 * is out of reach of a query under row-level security); the rows are then
 * read under it as usual.
 */
export function searchMessages(actor: TenantActor, input: PageRequest & { q: string }) {
  const limit = input.limit ?? DEFAULT_LIMIT
  let before: string | null = null
  if (input.cursor) {
    const keys = decodeCursor(input.cursor)
    if (keys.length !== 1 || typeof keys[0] !== 'string' || !isUuid(keys[0])) throw invalidCursor()
    before = keys[0]
  }
  return inActiveTenant(
    actor,
    async (trx) => {
      const { rows: hits } = before
        ? await trx.rawQuery('SELECT id FROM chat_search_ids(?, ?::uuid, ?)', [
            input.q,
            before,
            limit + 1,
          ])
        : await trx.rawQuery('SELECT id FROM chat_search_ids(?, NULL, ?)', [input.q, limit + 1])
      const ids = (hits as Array<{ id: string }>).map((hit) => hit.id)
      const page = ids.slice(0, limit)
      if (page.length === 0) return { data: [], meta: { nextCursor: null } }
      // ts_headline is full text search: it stays SQL, on the page's rows only.
      const messages = await Message.query({ client: trx })
        .join('chat_conversations as c', 'c.id', 'chat_messages.conversation_id')
        .whereIn('chat_messages.id', page)
        .where('chat_messages.user_id', actor.userId)
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
        .orderBy('chat_messages.id', 'desc')
      return {
        data: messages.map((message) => ({
          messageId: message.id,
          conversationId: message.conversationId,
          conversationTitle: message.$extras.conversation_title as string,
          role: message.role,
          createdAt: message.createdAt.toISO()!,
          highlight: highlightParts(String(message.$extras.headline ?? '')),
        })),
        meta: { nextCursor: ids.length > limit ? encodeCursor([page.at(-1)!]) : null },
      }
    },
    { readOnly: true }
  )
}
