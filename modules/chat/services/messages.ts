import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { isUuid, newId } from '#app/platform/ids'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import type Conversation from '#modules/chat/models/conversation'
import Message from '#modules/chat/models/message'
import { conversations, findOwnConversation } from '#modules/chat/services/conversations'

/** A message as the API shows it. */
export type MessageView = ReturnType<Message['serialize']>

export const messageNotFound = () =>
  new ProblemException(404, 'message_not_found', 'No such message in this conversation.')

/** One of the conversation's messages (the conversation is already known to be the caller's). */
export async function findMessage(
  trx: TransactionClientContract,
  conversation: Conversation,
  id: string
) {
  if (!isUuid(id)) throw messageNotFound()
  const message = await Message.query({ client: trx })
    .where('conversation_id', conversation.id)
    .where('id', id)
    .first()
  if (!message) throw messageNotFound()
  return message
}

/**
 * A message and its ancestors, root first: the only context a reply to it
 * may see (other branches never leak in). Walked in one recursive query.
 */
export async function ancestorChain(
  trx: TransactionClientContract,
  conversationId: string,
  leafId: string | null
): Promise<Message[]> {
  if (!leafId) return []
  // A recursive walk up the tree: one statement instead of one per level.
  const { rows } = await trx.rawQuery(
    `WITH RECURSIVE chain AS (
       SELECT m.*, 0 AS depth FROM chat_messages m WHERE m.id = ? AND m.conversation_id = ?
       UNION ALL
       SELECT p.*, chain.depth + 1 FROM chat_messages p JOIN chain ON p.id = chain.parent_id
     )
     SELECT * FROM chain ORDER BY depth DESC`,
    [leafId, conversationId]
  )
  return (rows as Array<Record<string, unknown>>).map((row) => {
    const columns = { ...row }
    delete columns.depth
    delete columns.search
    return Message.$createFromAdapterResult(columns)!
  })
}

/**
 * The newest leaf under a message (itself when it has no children): choosing
 * a message in a branch shows that branch down to its latest reply.
 */
async function newestLeafUnder(trx: TransactionClientContract, messageId: string) {
  // Follows the newest child at each level (UUIDv7 ids sort by creation).
  const { rows } = await trx.rawQuery(
    `WITH RECURSIVE down AS (
       SELECT ?::uuid AS id, 0 AS depth
       UNION ALL
       SELECT (SELECT c.id FROM chat_messages c WHERE c.parent_id = down.id ORDER BY c.id DESC LIMIT 1), down.depth + 1
         FROM down WHERE down.id IS NOT NULL
     )
     SELECT id FROM down WHERE id IS NOT NULL ORDER BY depth DESC LIMIT 1`,
    [messageId]
  )
  return rows[0].id as string
}

/** The message's siblings (its parent's children, itself included), oldest first. */
async function siblingsOf(trx: TransactionClientContract, conversationId: string, path: Message[]) {
  if (path.length === 0) return new Map<string, string[]>()
  const parents = path.map((message) => message.parentId)
  const rows = await Message.query({ client: trx })
    .where('conversation_id', conversationId)
    .where((query) => {
      const real = parents.filter((parent): parent is string => parent !== null)
      if (real.length) query.whereIn('parent_id', real)
      if (parents.includes(null)) query.orWhereNull('parent_id')
    })
    .select('id', 'parent_id')
    .orderBy('id')
  const byParent = new Map<string, string[]>()
  for (const row of rows) {
    const key = row.parentId ?? ''
    byParent.set(key, [...(byParent.get(key) ?? []), row.id])
  }
  return byParent
}

export const messages = {
  /**
   * The branch the conversation shows: from the first message to the active
   * leaf, each with its siblings' ids so a client can offer the other
   * versions (“2 of 3”).
   */
  activePath(actor: TenantActor, conversationId: string) {
    return inActiveTenant(
      actor,
      async (trx) => {
        const conversation = await findOwnConversation(trx, actor, conversationId)
        const path = await ancestorChain(trx, conversation.id, conversation.activeLeafId)
        const siblings = await siblingsOf(trx, conversation.id, path)
        return {
          activeLeafId: conversation.activeLeafId,
          data: path.map((message) => ({
            ...message.serialize(),
            siblingIds: siblings.get(message.parentId ?? '') ?? [message.id],
          })),
        }
      },
      { readOnly: true }
    )
  },

  /** Every message of the conversation, every branch, oldest first. */
  tree(actor: TenantActor, conversationId: string) {
    return inActiveTenant(
      actor,
      async (trx) => {
        const conversation = await findOwnConversation(trx, actor, conversationId)
        const all = await Message.query({ client: trx })
          .where('conversation_id', conversation.id)
          .orderBy('id')
        return {
          activeLeafId: conversation.activeLeafId,
          data: all.map((message) => message.serialize()),
        }
      },
      { readOnly: true }
    )
  },

  /**
   * Chooses the branch every client shows: the message given, or the newest
   * leaf under it when it has replies.
   */
  setActiveLeaf(actor: TenantActor, conversationId: string, messageId: string) {
    return inActiveTenant(actor, async (trx) => {
      const conversation = await findOwnConversation(trx, actor, conversationId)
      const message = await findMessage(trx, conversation, messageId)
      conversation.activeLeafId = await newestLeafUnder(trx, message.id)
      await conversation.useTransaction(trx).save()
      return conversation.serialize()
    })
  },

  /**
   * A new conversation holding copies of the message's ancestor chain (the
   * message included) and nothing from other branches; replies continue
   * from the copy of the message.
   */
  async fork(actor: TenantActor, conversationId: string, fromMessageId: string) {
    const source = await inActiveTenant(
      actor,
      async (trx) => {
        const conversation = await findOwnConversation(trx, actor, conversationId)
        const message = await findMessage(trx, conversation, fromMessageId)
        if (message.status === 'generating') {
          throw new ProblemException(
            409,
            'message_generating',
            'This reply is still being written; fork once it is done.'
          )
        }
        return { conversation, chain: await ancestorChain(trx, conversation.id, message.id) }
      },
      { readOnly: true }
    )
    const title = `${source.conversation.title} (fork)`.slice(0, 200)
    const created = await conversations.create(actor, { title }, async (trx, forked) => {
      let parentId: string | null = null
      const copies = source.chain.map((message) => {
        const copy = {
          id: newId(),
          tenant_id: forked.tenantId,
          conversation_id: forked.id,
          user_id: actor.userId,
          parent_id: parentId,
          role: message.role,
          content: message.content,
          status: message.status,
          model: message.model,
          assistant_id: message.assistantId,
          prompt_tokens: message.promptTokens,
          completion_tokens: message.completionTokens,
          error_code: message.errorCode,
        }
        parentId = copy.id
        return copy
      })
      // One multi-row insert: a long chain costs one statement.
      if (copies.length) await trx.table('chat_messages').multiInsert(copies)
      forked.activeLeafId = parentId
      forked.assistantId = source.conversation.assistantId
      await forked.useTransaction(trx).save()
    })
    return created
  },
}
