import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { DateTime } from 'luxon'
import { MANAGERS, type TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import { paginate, type PageRequest } from '#app/http/pagination'
import { events } from '#app/messaging/outbox'
import { sentFields } from '#app/platform/columns'
import { isUuid, newId } from '#app/platform/ids'
import { containsPattern } from '#app/platform/search_text'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import Assistant, { type Visibility } from '#modules/chat/models/assistant'

export type AssistantView = ReturnType<Assistant['serialize']>

export interface AssistantInput {
  name?: string
  description?: string
  systemPrompt?: string
  model?: string | null
  temperature?: number | null
  maxTokens?: number | null
  starters?: string[]
  category?: string
  visibility?: Visibility
}

export const assistantNotFound = () =>
  new ProblemException(404, 'assistant_not_found', 'No such assistant.')

const isManager = (actor: TenantActor) => MANAGERS.includes(actor.role)

/**
 * What the caller may see: public assistants of any tenant, their tenant's
 * tenant-wide ones, and their own. (Row-level security already hides other
 * tenants' non-public rows; this also hides colleagues' private ones.)
 */
export function visibleAssistants(trx: TransactionClientContract, actor: TenantActor) {
  return Assistant.query({ client: trx }).whereRaw(
    visibleAssistantSql('chat_assistants', '?', '?'),
    [actor.tenantId, actor.userId]
  )
}

/**
 * The rule above as SQL, over `alias` with the tenant's and the user's
 * placeholders — one rule for the builder and for a send's planning read,
 * which embeds it.
 */
export function visibleAssistantSql(alias: string, tenant: string, user: string) {
  return `(${alias}.visibility = 'public' OR (${alias}.tenant_id = ${tenant} AND (${alias}.visibility = 'tenant' OR ${alias}.owner_id = ${user})))`
}

/**
 * What the explore catalog lists: public assistants of any tenant and the
 * caller's tenant's tenant-wide ones — not anyone's private ones, the
 * caller's own included.
 */
const IN_CATALOG = `(chat_assistants.visibility = 'public' OR (chat_assistants.tenant_id = ? AND chat_assistants.visibility = 'tenant'))`

export async function findVisibleAssistant(
  trx: TransactionClientContract,
  actor: TenantActor,
  id: string
) {
  if (!isUuid(id)) throw assistantNotFound()
  const assistant = await visibleAssistants(trx, actor).where('id', id).first()
  if (!assistant) throw assistantNotFound()
  return assistant
}

/** Its owner may change it, and the owning tenant's owners and admins (moderation). */
async function findEditable(trx: TransactionClientContract, actor: TenantActor, id: string) {
  const assistant = await findVisibleAssistant(trx, actor, id)
  const mine = assistant.tenantId === actor.tenantId && assistant.ownerId === actor.userId
  if (!mine && !(assistant.tenantId === actor.tenantId && isManager(actor))) {
    throw new ProblemException(
      403,
      'not_assistant_owner',
      'Only its owner, or an owner or admin of its tenant, may change this assistant.'
    )
  }
  return assistant
}

function assertMayPublish(actor: TenantActor, visibility: Visibility | undefined) {
  if (visibility === 'public' && !isManager(actor)) {
    throw new ProblemException(
      403,
      'forbidden',
      'Only owners and admins may make an assistant public (every tenant sees it).'
    )
  }
}

/** First time an assistant leaves private: published, once. */
async function markPublished(trx: TransactionClientContract, assistant: Assistant) {
  if (assistant.visibility === 'private' || assistant.publishedAt) return
  assistant.publishedAt = DateTime.now()
  await events.publish(
    trx,
    'chat.assistant_published',
    {
      assistantId: assistant.id,
      name: assistant.name,
      category: assistant.category,
      visibility: assistant.visibility,
      ownerId: assistant.ownerId,
    },
    { version: 1, tenantId: assistant.tenantId, aggregateId: assistant.id }
  )
}

export const assistants = {
  /** Yours (`scope=mine`, the default) or your favourites, newest first. */
  list(actor: TenantActor, input: PageRequest & { scope?: 'mine' | 'favourites' }) {
    return inActiveTenant(
      actor,
      (trx) => {
        const query = visibleAssistants(trx, actor)
        if (input.scope === 'favourites') {
          query.whereIn(
            'id',
            trx
              .from('chat_assistant_favourites')
              .where('user_id', actor.userId)
              .select('assistant_id')
          )
        } else {
          query.where('tenant_id', actor.tenantId).where('owner_id', actor.userId)
        }
        return paginate(query, input, {}, (assistant) => assistant.serialize())
      },
      { readOnly: true }
    )
  },

  async show(actor: TenantActor, id: string) {
    const assistant = await inActiveTenant(actor, (trx) => findVisibleAssistant(trx, actor, id), {
      readOnly: true,
    })
    return assistant.serialize()
  },

  async create(actor: TenantActor, input: AssistantInput & { name: string }) {
    assertMayPublish(actor, input.visibility)
    const assistant = await inActiveTenant(actor, async (trx, tenantId) => {
      const created = new Assistant().merge({
        id: newId(),
        tenantId,
        ownerId: actor.userId,
        name: input.name,
        description: input.description ?? '',
        systemPrompt: input.systemPrompt ?? '',
        model: input.model ?? null,
        temperature: input.temperature ?? null,
        maxTokens: input.maxTokens ?? null,
        starters: input.starters ?? [],
        category: input.category ?? 'general',
        visibility: input.visibility ?? 'private',
        forkedFrom: null,
        publishedAt: null,
      })
      await markPublished(trx, created)
      await created.useTransaction(trx).save()
      return created
    })
    return assistant.serialize()
  },

  async update(actor: TenantActor, id: string, input: AssistantInput) {
    assertMayPublish(actor, input.visibility)
    const assistant = await inActiveTenant(actor, async (trx) => {
      const found = await findEditable(trx, actor, id)
      found.merge(sentFields({ ...input }))
      await markPublished(trx, found)
      await found.useTransaction(trx).save()
      return found
    })
    return assistant.serialize()
  },

  remove(actor: TenantActor, id: string) {
    return inActiveTenant(actor, async (trx) => {
      const found = await findEditable(trx, actor, id)
      await found.useTransaction(trx).delete()
    })
  },

  /** Your own private copy of an assistant you can see (of any tenant, when public). */
  async fork(actor: TenantActor, id: string) {
    const copy = await inActiveTenant(actor, async (trx, tenantId) => {
      const source = await findVisibleAssistant(trx, actor, id)
      const forked = new Assistant().merge({
        id: newId(),
        tenantId,
        ownerId: actor.userId,
        name: `${source.name} (copy)`.slice(0, 100),
        description: source.description,
        systemPrompt: source.systemPrompt,
        model: source.tenantId === tenantId ? source.model : null,
        temperature: source.temperature,
        maxTokens: source.maxTokens,
        starters: source.starters,
        category: source.category,
        visibility: 'private',
        forkedFrom: source.id,
        publishedAt: null,
      })
      await forked.useTransaction(trx).save()
      return forked
    })
    return copy.serialize()
  },

  /** Adds or removes a favourite (idempotent). */
  favourite(actor: TenantActor, id: string, on: boolean) {
    return inActiveTenant(actor, async (trx, tenantId) => {
      const assistant = await findVisibleAssistant(trx, actor, id)
      if (on) {
        await trx
          .table('chat_assistant_favourites')
          .insert({
            id: newId(),
            tenant_id: tenantId,
            user_id: actor.userId,
            assistant_id: assistant.id,
          })
          .onConflict(['tenant_id', 'user_id', 'assistant_id'])
          .ignore()
      } else {
        await trx
          .from('chat_assistant_favourites')
          .where({ user_id: actor.userId, assistant_id: assistant.id })
          .delete()
      }
    })
  },

  /** Features (or not) an assistant in this tenant's explore catalog (owners and admins). */
  feature(actor: TenantActor, id: string, on: boolean) {
    return inActiveTenant(actor, async (trx, tenantId) => {
      const assistant = await findVisibleAssistant(trx, actor, id)
      if (assistant.visibility === 'private') {
        throw new ProblemException(
          422,
          'assistant_private',
          'A private assistant cannot be featured; make it tenant-wide or public first.'
        )
      }
      if (on) {
        await trx
          .table('chat_featured')
          .insert({ id: newId(), tenant_id: tenantId, assistant_id: assistant.id })
          .onConflict(['tenant_id', 'assistant_id'])
          .ignore()
      } else {
        await trx.from('chat_featured').where('assistant_id', assistant.id).delete()
      }
      return { assistantId: assistant.id, featured: on }
    })
  },

  /**
   * The explore catalog: public assistants of every tenant and this tenant's
   * tenant-wide ones (never private ones, not even the caller's). `popular`
   * ranks by distinct users in the last 30 days; `featured` lists what this
   * tenant's admins featured; `new` pages newest first.
   */
  explore(
    actor: TenantActor,
    input: PageRequest & { q?: string; category?: string; sort?: 'popular' | 'new' | 'featured' }
  ) {
    return inActiveTenant(
      actor,
      async (trx) => {
        const query = Assistant.query({ client: trx })
          .whereRaw(IN_CATALOG, [actor.tenantId])
          .select('chat_assistants.*')
          // Distinct users in 30 days: one indexed count per assistant on the page.
          .select(
            trx.raw(
              `(SELECT count(*) FROM chat_assistant_users u
               WHERE u.assistant_id = chat_assistants.id
                 AND u.last_used_on > current_date - 30)::int AS users_30d`
            )
          )
          .select(
            trx.raw(
              `EXISTS (SELECT 1 FROM chat_featured f WHERE f.assistant_id = chat_assistants.id) AS featured`
            )
          )
        if (input.q) {
          const pattern = containsPattern(input.q)
          query.where((text) =>
            text.whereILike('name', pattern).orWhereILike('description', pattern)
          )
        }
        if (input.category) query.where('category', input.category)
        const present = (assistant: Assistant) => ({
          ...assistant.serialize(),
          usersLast30Days: Number(assistant.$extras.users_30d ?? 0),
          featured: Boolean(assistant.$extras.featured),
        })
        const sort = input.sort ?? 'popular'
        if (sort === 'new') return paginate(query, input, {}, present)
        if (sort === 'featured') {
          query.whereIn('chat_assistants.id', trx.from('chat_featured').select('assistant_id'))
        }
        // Ranked lists are a top list, not pages: a rank changes under a cursor.
        const rows = await query
          .orderByRaw('users_30d DESC')
          .orderBy('chat_assistants.id', 'desc')
          .limit(input.limit ?? 25)
        return { data: rows.map(present), meta: { nextCursor: null } }
      },
      { readOnly: true }
    )
  },

  /** The categories of the explore catalog, with how many assistants each has. */
  categories(actor: TenantActor) {
    return inActiveTenant(
      actor,
      async (trx) => {
        const rows = await trx
          .from('chat_assistants')
          .whereRaw(IN_CATALOG, [actor.tenantId])
          .groupBy('category')
          .orderBy('category')
          .select('category')
          .count('* as assistants')
        return {
          data: rows.map((row) => ({
            category: row.category as string,
            assistants: Number(row.assistants),
          })),
        }
      },
      { readOnly: true }
    )
  },
}
