import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { isUuid, newId } from '#app/platform/ids'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { isTenantMember, recordAudit } from '#modules/identity/index'
import Conversation from '#modules/chat/models/conversation'
import Message from '#modules/chat/models/message'
import { memberNotFound } from '#modules/chat/services/quotas'

/** Which model aliases chat may use in this tenant (null: every alias the tenant has). */
export async function allowedModels(trx: TransactionClientContract): Promise<string[] | null> {
  const row = await trx.from('chat_settings').select('allowed_models').first()
  return (row?.allowed_models as string[] | null | undefined) ?? null
}

/** UTC days, both included (YYYY-MM-DD). */
export interface UsageWindow {
  from?: string
  to?: string
}

const DAY_MS = 86_400_000

const badDay = (field: string, message: string) =>
  new ProblemException(422, 'validation_failed', message, [{ field, rule: 'date', message }])

function dayStart(value: string, field: string) {
  const date = new Date(`${value}T00:00:00Z`)
  if (Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== value)
    throw badDay(field, `${field} is not a calendar day`)
  return date
}

/** The window a usage report covers: the last 30 days (today included) unless given. */
function window(input: UsageWindow) {
  const today = new Date(new Date().toISOString().slice(0, 10) + 'T00:00:00Z')
  const to = new Date((input.to ? dayStart(input.to, 'to') : today).getTime() + DAY_MS)
  const from = input.from ? dayStart(input.from, 'from') : new Date(to.getTime() - 30 * DAY_MS)
  if (from >= to) throw badDay('from', 'from must not be after to')
  return { from, to }
}

type Grouping = 'day' | 'model' | 'assistant' | 'user'

const GROUP_COLUMNS: Record<Grouping, string> = {
  day: `to_char(date_trunc('day', m.created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`,
  model: 'm.model',
  assistant: 'm.assistant_id',
  user: 'm.user_id',
}

/**
 * Replies and their tokens grouped one way, from chat's own ledger (the
 * assistant messages): what the user or tenant sees as chat usage. The
 * gateway's usage has the same calls with their cost, titles included.
 */
async function usageBy(
  trx: TransactionClientContract,
  grouping: Grouping,
  range: { from: Date; to: Date },
  userId?: string
) {
  // A GROUP BY over a computed key: aggregation is SQL's job.
  const { rows } = await trx.rawQuery(
    `SELECT ${GROUP_COLUMNS[grouping]} AS key,
            ${grouping === 'assistant' ? 'max(a.name)' : 'NULL'} AS name,
            count(*)::int AS replies,
            coalesce(sum(m.prompt_tokens), 0)::bigint AS prompt_tokens,
            coalesce(sum(m.completion_tokens), 0)::bigint AS completion_tokens,
            count(DISTINCT m.user_id)::int AS users
       FROM chat_messages m
       ${grouping === 'assistant' ? 'LEFT JOIN chat_assistants a ON a.id = m.assistant_id' : ''}
      WHERE m.role = 'assistant' AND m.created_at >= ? AND m.created_at < ?
        ${userId ? 'AND m.user_id = ?' : ''}
      GROUP BY 1
      ORDER BY ${grouping === 'day' ? '1' : 'completion_tokens DESC, 1'}`,
    [range.from, range.to, ...(userId ? [userId] : [])]
  )
  return (
    rows as Array<{
      key: string | null
      name: string | null
      replies: number
      prompt_tokens: string
      completion_tokens: string
      users: number
    }>
  ).map((row) => ({
    key: row.key,
    ...(grouping === 'assistant' ? { name: row.name } : {}),
    replies: row.replies,
    promptTokens: Number(row.prompt_tokens),
    completionTokens: Number(row.completion_tokens),
    ...(grouping === 'user' ? {} : { users: row.users }),
  }))
}

const conversationNotFound = () =>
  new ProblemException(404, 'conversation_not_found', 'No such conversation.')

export const chatAdmin = {
  /** The caller's own chat usage: by day, by model and by assistant. */
  myUsage(actor: TenantActor, input: UsageWindow) {
    const range = window(input)
    return inActiveTenant(
      actor,
      async (trx) => ({
        from: range.from.toISOString(),
        to: range.to.toISOString(),
        byDay: await usageBy(trx, 'day', range, actor.userId),
        byModel: await usageBy(trx, 'model', range, actor.userId),
        byAssistant: await usageBy(trx, 'assistant', range, actor.userId),
      }),
      { readOnly: true }
    )
  },

  /** The tenant's chat usage grouped by user, model or assistant (owners and admins). */
  usage(actor: TenantActor, input: UsageWindow & { groupBy?: 'user' | 'model' | 'assistant' }) {
    const range = window(input)
    const groupBy = input.groupBy ?? 'user'
    return inActiveTenant(
      actor,
      async (trx) => ({
        from: range.from.toISOString(),
        to: range.to.toISOString(),
        groupBy,
        data: await usageBy(trx, groupBy, range),
      }),
      { readOnly: true }
    )
  },

  settings(actor: TenantActor) {
    return inActiveTenant(actor, async (trx) => ({ allowedModels: await allowedModels(trx) }), {
      readOnly: true,
    })
  },

  /** Limits chat to these model aliases (null: every alias the tenant has). */
  saveSettings(actor: TenantActor, input: { allowedModels: string[] | null }) {
    return inActiveTenant(actor, async (trx, tenantId) => {
      const allowed = input.allowedModels ? [...new Set(input.allowedModels)] : null
      await trx
        .table('chat_settings')
        .insert({ id: newId(), tenant_id: tenantId, allowed_models: JSON.stringify(allowed) })
        .onConflict(['tenant_id'])
        .merge({ allowed_models: JSON.stringify(allowed), updated_at: new Date() })
      return { allowedModels: allowed }
    })
  },

  /** A member's conversations (titles only), for an admin; the read is audited. */
  userConversations(actor: TenantActor, userId: string) {
    return inActiveTenant(actor, async (trx, tenantId) => {
      if (!isUuid(userId) || !(await isTenantMember(trx, tenantId, userId))) {
        throw memberNotFound()
      }
      const rows = await Conversation.query({ client: trx })
        .where('user_id', userId)
        .orderBy('id', 'desc')
        .limit(1000)
      await recordAudit(
        'chat.conversations_listed',
        { tenantId, actorUserId: actor.userId, subjectUserId: userId },
        trx
      )
      return { data: rows.map((conversation) => conversation.serialize()) }
    })
  },

  /** Someone's whole conversation, every branch, for an admin; the read is audited. */
  conversation(actor: TenantActor, id: string) {
    return inActiveTenant(actor, async (trx, tenantId) => {
      if (!isUuid(id)) throw conversationNotFound()
      const conversation = await Conversation.query({ client: trx }).where('id', id).first()
      if (!conversation) throw conversationNotFound()
      const all = await Message.query({ client: trx })
        .where('conversation_id', conversation.id)
        .orderBy('id')
      await recordAudit(
        'chat.conversation_viewed',
        {
          tenantId,
          actorUserId: actor.userId,
          subjectUserId: conversation.userId,
          details: { conversationId: conversation.id },
        },
        trx
      )
      return {
        conversation: conversation.serialize(),
        messages: all.map((message) => message.serialize()),
      }
    })
  },
}
