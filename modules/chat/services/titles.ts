import logger from '@adonisjs/core/services/logger'
import { tenancy } from '#app/tenancy/tenancy'
import type { Statement } from '#app/tenancy/prefixed_query'
import { gateway } from '#modules/gateway/index'
import { chatConfig } from '#modules/chat/config'
import type Generation from '#modules/chat/models/generation'

const TITLE_TIMEOUT_MS = 10_000

/**
 * Asks CHAT_TITLE_MODEL (or the reply's model) for a short title. Counted on
 * the tenant's quotas and the user's usage, not on the user's message quota.
 * Null when none came: a failure is only logged, since a missing title must
 * not fail the reply.
 */
export async function askTitle(generation: Generation, question: string, reply: string) {
  try {
    const answer = await gateway.chat(
      { tenantId: generation.tenantId, userId: generation.userId },
      {
        model: chatConfig.titleModel ?? generation.model,
        max_tokens: 24,
        messages: [
          {
            role: 'system',
            content:
              'Write a title of at most six words for the conversation below. Answer with the title only, no quotes.',
          },
          { role: 'user', content: `${question.slice(0, 2000)}\n\n${reply.slice(0, 2000)}` },
        ],
      },
      { signal: AbortSignal.timeout(TITLE_TIMEOUT_MS) }
    )
    return (
      (answer.result.choices[0]?.message?.content ?? '')
        .replaceAll('\u0000', '')
        .replace(/\s+/g, ' ')
        .replace(/^["'“”]+|["'“”.]+$/g, '')
        .trim()
        .slice(0, 200) || null
    )
  } catch (error) {
    logger.warn({ err: error, conversationId: generation.conversationId }, 'chat: no title written')
    return null
  }
}

/**
 * Stores `title` unless the user renamed the conversation meanwhile, with
 * the statements `alongside` (the generation's end) in the same transaction,
 * in one round trip (tenancy.write). Returns the title when it was written.
 *
 * The conversation is updated first, as a send locks it first: a send that
 * repeats this generation's clientRequestId locks the conversation and then
 * waits on the generation's row in the unique index, so taking the two the
 * other way round deadlocked with it.
 */
export async function storeTitle(
  generation: Generation,
  title: string | null,
  alongside: Statement[]
) {
  const titling = title
    ? [
        {
          text: `UPDATE chat_conversations SET title = $3 WHERE id = $1 AND title = $2`,
          values: [generation.conversationId, chatConfig.defaultTitle, title],
        },
      ]
    : []
  const [titled] = await tenancy.write({ tenantId: generation.tenantId }, [
    ...titling,
    ...alongside,
  ])
  return title && (titled.rowCount ?? 0) > 0 ? title : null
}
