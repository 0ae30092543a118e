import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { DateTime } from 'luxon'
import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { paginate, type PageRequest } from '#app/http/pagination'
import { sentFields } from '#app/platform/columns'
import { isUuid, newId } from '#app/platform/ids'
import { containsPattern } from '#app/platform/search_text'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { chatConfig } from '#modules/chat/config'
import Conversation from '#modules/chat/models/conversation'
import { CANCELS_CHANNEL, generationRunner } from '#modules/chat/services/runner'

/** A conversation as the API shows it (the model serialized). */
export type ConversationView = ReturnType<Conversation['serialize']>

export const conversationNotFound = () =>
  new ProblemException(404, 'conversation_not_found', 'No such conversation.')
const notFound = conversationNotFound

/** The caller's conversations only: row-level security scopes the tenant, this the user. */
function own(trx: TransactionClientContract, actor: TenantActor) {
  return Conversation.query({ client: trx })
    .where('tenant_id', actor.tenantId)
    .where('user_id', actor.userId)
}

/** One of the caller's conversations, or the 404 a missing one gets. */
export async function findOwnConversation(
  trx: TransactionClientContract,
  actor: TenantActor,
  id: string,
  options: { lock?: boolean } = {}
) {
  if (!isUuid(id)) throw notFound()
  const query = own(trx, actor).where('id', id)
  if (options.lock) query.forUpdate()
  const conversation = await query.first()
  if (!conversation) throw notFound()
  return conversation
}

/** The caller's own conversations, each use case its own short unit of work. */
export const conversations = {
  /** Newest first; archived ones only when asked for. */
  list(
    actor: TenantActor,
    filters: PageRequest & { q?: string; archived?: boolean; pinned?: boolean }
  ) {
    return inActiveTenant(
      actor,
      (trx) => {
        const query = own(trx, actor)
        if (filters.archived) query.whereNotNull('archived_at')
        else query.whereNull('archived_at')
        if (filters.pinned !== undefined) query.where('pinned', filters.pinned)
        if (filters.q) query.whereILike('title', containsPattern(filters.q))
        return paginate(query, filters, {}, (conversation) => conversation.serialize())
      },
      { readOnly: true }
    )
  },

  async show(actor: TenantActor, id: string) {
    const conversation = await inActiveTenant(actor, (trx) => findOwnConversation(trx, actor, id), {
      readOnly: true,
    })
    return conversation.serialize()
  },

  /** `fill` runs in the same unit of work, e.g. to copy a fork's messages in. */
  async create(
    actor: TenantActor,
    input: { title?: string },
    fill?: (trx: TransactionClientContract, conversation: Conversation) => Promise<void>
  ) {
    const conversation = await inActiveTenant(actor, async (trx, tenantId) => {
      // One creation at a time per user, so two at once cannot both pass the cap.
      await trx.rawQuery('SELECT pg_advisory_xact_lock(hashtextextended(?, 0))', [
        `chat_conversations:${tenantId}:${actor.userId}`,
      ])
      const held = await own(trx, actor).count('* as total').first()
      if (Number(held?.$extras.total ?? 0) >= chatConfig.maxConversationsPerUser) {
        throw new ProblemException(
          409,
          'conversation_limit_reached',
          `You keep ${chatConfig.maxConversationsPerUser} conversations, the most allowed; delete some first.`
        )
      }
      const created = await Conversation.create(
        {
          id: newId(),
          tenantId,
          userId: actor.userId,
          title: input.title ?? chatConfig.defaultTitle,
          pinned: false,
          archivedAt: null,
          activeLeafId: null,
          assistantId: null,
        },
        { client: trx }
      )
      await fill?.(trx, created)
      return created
    })
    return conversation.serialize()
  },

  async update(
    actor: TenantActor,
    id: string,
    input: { title?: string; pinned?: boolean; archived?: boolean }
  ) {
    const conversation = await inActiveTenant(actor, async (trx) => {
      const found = await findOwnConversation(trx, actor, id)
      found.merge(sentFields({ title: input.title, pinned: input.pinned }))
      // Archiving twice keeps the first time.
      if (input.archived === true) found.archivedAt ??= DateTime.now()
      if (input.archived === false) found.archivedAt = null
      return found.useTransaction(trx).save()
    })
    return conversation.serialize()
  },

  /**
   * Deletes a conversation with its messages and replies. A reply still being
   * written stops now, by the same signal as a cancel: nobody can read it any
   * more, and every token generated after this would still be charged.
   */
  async remove(actor: TenantActor, id: string) {
    const stopping = await inActiveTenant(actor, async (trx) => {
      const found = await findOwnConversation(trx, actor, id)
      // NOTIFY in the transaction: the runners hear it when the delete commits, and not at all if it fails.
      const { rows } = await trx.rawQuery(
        `SELECT id, pg_notify(?, id::text) FROM chat_generations
          WHERE conversation_id = ? AND status IN ('queued', 'running')`,
        [CANCELS_CHANNEL, found.id]
      )
      await found.useTransaction(trx).delete()
      return (rows as Array<{ id: string }>).map((row) => row.id)
    })
    for (const generationId of stopping) generationRunner.cancelHere(generationId)
  },
}
