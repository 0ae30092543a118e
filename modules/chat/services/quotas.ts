import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { isTenantMember } from '#modules/identity/index'
import { gateway } from '#modules/gateway/index'
import { newId } from '#app/platform/ids'
import { chatConfig } from '#modules/chat/config'
import ChatQuota from '#modules/chat/models/quota'

export interface ChatLimits {
  messagesPerMinute: number | null
  tokensPerDay: number | null
  disabled: boolean
}

/**
 * What applies to one user: their own row's fields, else the tenant
 * default's, else the environment's (CHAT_MESSAGES_PER_MINUTE,
 * CHAT_TOKENS_PER_DAY); null is unlimited. The counting itself is the
 * gateway's (its reservations are exact across processes).
 */
export async function limitsFor(
  trx: TransactionClientContract,
  userId: string
): Promise<ChatLimits> {
  const rows = await ChatQuota.query({ client: trx }).where((query) =>
    query.where('user_id', userId).orWhereNull('user_id')
  )
  return limitsFrom(rows, userId)
}

type QuotaFields = Pick<ChatQuota, 'userId' | 'messagesPerMinute' | 'tokensPerDay' | 'disabled'>

function limitsFrom(rows: QuotaFields[], userId: string): ChatLimits {
  const own = rows.find((row) => row.userId === userId)
  const fallback = rows.find((row) => row.userId === null)
  return {
    messagesPerMinute:
      own?.messagesPerMinute ?? fallback?.messagesPerMinute ?? chatConfig.messagesPerMinute,
    tokensPerDay: own?.tokensPerDay ?? fallback?.tokensPerDay ?? chatConfig.tokensPerDay,
    disabled: own?.disabled ?? false,
  }
}

/** What a send must respect: the user's limits and the tenant's allowed model aliases (null: all). */
export interface SendRules {
  limits: ChatLimits
  allowedModels: string[] | null
}

/**
 * The send rules as two columns of the statement that reads the conversation
 * (`sendRulesFrom` reads them back), with `user` the user id's placeholder:
 * every send reads both, and each round trip before the upstream call is one
 * the user waits for.
 */
export function sendRulesSql(user: string) {
  return `(SELECT coalesce(json_agg(json_build_object(
               'userId', q.user_id, 'messagesPerMinute', q.messages_per_minute,
               'tokensPerDay', q.tokens_per_day, 'disabled', q.disabled)), '[]')
        FROM chat_quotas q WHERE q.user_id = ${user} OR q.user_id IS NULL) AS send_quotas,
     (SELECT allowed_models FROM chat_settings LIMIT 1) AS send_allowed_models`
}

export function sendRulesFrom(extras: Record<string, unknown>, userId: string): SendRules {
  const quotas = extras.send_quotas as Array<{
    userId: string | null
    messagesPerMinute: number | null
    tokensPerDay: number | null
    disabled: boolean | null
  }>
  return {
    limits: limitsFrom(
      quotas.map((quota) => ({ ...quota, disabled: quota.disabled === true })),
      userId
    ),
    allowedModels: (extras.send_allowed_models as string[] | null) ?? null,
  }
}

export function assertChatEnabled(limits: ChatLimits) {
  if (limits.disabled) {
    throw new ProblemException(
      403,
      'chat_disabled',
      'An administrator turned chat off for you in this tenant.'
    )
  }
}

/** The gateway's limit shape for a user's chat calls. */
export function gatewayLimits(limits: ChatLimits) {
  return { requestsPerMinute: limits.messagesPerMinute, tokensPerDay: limits.tokensPerDay }
}

/** Sets (or with all nulls, resets) the tenant default (userId null) or one user's override. */
export async function saveQuota(
  trx: TransactionClientContract,
  tenantId: string,
  userId: string | null,
  input: Partial<Omit<ChatLimits, 'disabled'>> & { disabled?: boolean }
) {
  const existing = await ChatQuota.query({ client: trx })
    .where((query) => (userId ? query.where('user_id', userId) : query.whereNull('user_id')))
    .forUpdate()
    .first()
  const quota =
    existing ??
    new ChatQuota().merge({
      id: newId(),
      tenantId,
      userId,
      messagesPerMinute: null,
      tokensPerDay: null,
      disabled: false,
    })
  if (input.messagesPerMinute !== undefined) quota.messagesPerMinute = input.messagesPerMinute
  if (input.tokensPerDay !== undefined) quota.tokensPerDay = input.tokensPerDay
  if (input.disabled !== undefined && userId) quota.disabled = input.disabled
  await quota.useTransaction(trx).save()
  return quota
}

const quotaView = (quota: ChatQuota | undefined, userId: string | null) => ({
  userId,
  messagesPerMinute: quota?.messagesPerMinute ?? null,
  tokensPerDay: quota?.tokensPerDay ?? null,
  disabled: quota?.disabled ?? false,
})

/** A user id that is not a member of the active tenant (any other tenant's user included). */
export const memberNotFound = () =>
  new ProblemException(404, 'member_not_found', 'No such member of this tenant.')

/** Chat quotas as the tenant's admins and each user see them. */
export const chatQuotas = {
  /** The tenant default and every override. */
  list(actor: TenantActor) {
    return inActiveTenant(
      actor,
      async (trx) => {
        const rows = await ChatQuota.query({ client: trx }).orderBy('id')
        return {
          default: quotaView(
            rows.find((row) => row.userId === null),
            null
          ),
          environment: {
            messagesPerMinute: chatConfig.messagesPerMinute,
            tokensPerDay: chatConfig.tokensPerDay,
          },
          users: rows.filter((row) => row.userId !== null).map((row) => quotaView(row, row.userId)),
        }
      },
      { readOnly: true }
    )
  },

  /** Sets the tenant default (userId null) or a member's own limits and access. */
  set(
    actor: TenantActor,
    userId: string | null,
    input: { messagesPerMinute?: number | null; tokensPerDay?: number | null; disabled?: boolean }
  ) {
    return inActiveTenant(actor, async (trx, tenantId) => {
      if (userId !== null && !(await isTenantMember(trx, tenantId, userId))) throw memberNotFound()
      const quota = await saveQuota(trx, tenantId, userId, input)
      return quotaView(quota, userId)
    })
  },

  /** The caller's limits and where their counters stand now. */
  async mine(actor: TenantActor) {
    const limits = await inActiveTenant(actor, (trx) => limitsFor(trx, actor.userId), {
      readOnly: true,
    })
    const counters = await gateway.userQuota(actor, gatewayLimits(limits))
    const state = (dimension: string, limit: number | null) => {
      const counter = counters.find((entry) => entry.dimension === dimension)
      return {
        limit,
        used: counter?.used ?? 0,
        remaining: counter?.remaining ?? null,
        resetsAt: counter?.resetsAt ?? null,
      }
    }
    return {
      disabled: limits.disabled,
      messagesPerMinute: state('requests', limits.messagesPerMinute),
      tokensPerDay: state('tokensPerDay', limits.tokensPerDay),
    }
  },
}
