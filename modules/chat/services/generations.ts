import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { DateTime } from 'luxon'
import logger from '@adonisjs/core/services/logger'
import type { TenantActor } from '#app/auth/policies'
import { ProblemException } from '#app/http/problem'
import type { SseStream } from '#app/http/sse'
import { isUuid, newId } from '#app/platform/ids'
import { columnList } from '#app/platform/columns'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import { tenancy } from '#app/tenancy/tenancy'
import { gateway, type ChatParams, type Ticket } from '#modules/gateway/index'
import { chatConfig } from '#modules/chat/config'
import Conversation from '#modules/chat/models/conversation'
import Generation from '#modules/chat/models/generation'
import Message from '#modules/chat/models/message'
import { conversationNotFound } from '#modules/chat/services/conversations'
import { follow, generationLog, ownsByLog } from '#modules/chat/services/generation_log'
import { messageNotFound } from '#modules/chat/services/messages'
import { assistantNotFound, visibleAssistantSql } from '#modules/chat/services/assistants'
import type Assistant from '#modules/chat/models/assistant'
import {
  assertChatEnabled,
  gatewayLimits,
  type ChatLimits,
  sendRulesSql,
  sendRulesFrom,
  type SendRules,
} from '#modules/chat/services/quotas'
import {
  CANCELS_CHANNEL,
  GENERATIONS_CHANNEL,
  generationRunner,
  runsGenerationsHere,
} from '#modules/chat/services/runner'

export type GenerationView = ReturnType<Generation['serialize']>

export interface Accepted {
  userMessage: ReturnType<Message['serialize']>
  assistantMessage: ReturnType<Message['serialize']>
  generation: GenerationView
}

const generationNotFound = () =>
  new ProblemException(404, 'generation_not_found', 'No such generation.')

/** A cheap estimate (≈4 characters a token, plus framing), as the gateway reserves by. */
const estimate = (text: string) => 4 + Math.ceil(text.length / 4)

/**
 * The prompt for a reply: the system prompt, then the ancestor chain, the
 * oldest messages dropped first when it would not fit the context budget
 * (CHAT_CONTEXT_TOKENS minus the reply's CHAT_MAX_OUTPUT_TOKENS). The
 * question itself is always kept.
 */
export function buildPrompt(
  chain: Array<Pick<Message, 'role' | 'content' | 'status'>>,
  system: string | null = chatConfig.systemPrompt,
  maxOutput = chatConfig.maxOutputTokens
) {
  let budget = chatConfig.contextTokens - maxOutput - (system ? estimate(system) : 0)
  const kept: ChatParams['messages'] = []
  for (let index = chain.length - 1; index >= 0; index--) {
    const message = chain[index]
    // A failed reply with nothing in it says nothing to the model.
    if (message.role === 'assistant' && message.content === '') continue
    const cost = estimate(message.content)
    if (kept.length > 0 && cost > budget) break
    budget -= cost
    kept.unshift({ role: message.role, content: message.content })
  }
  return system ? [{ role: 'system' as const, content: system }, ...kept] : kept
}

function accepted(generation: Generation, question: Message, reply: Message): Accepted {
  return {
    userMessage: question.serialize(),
    assistantMessage: reply.serialize(),
    generation: generation.serialize(),
  }
}

async function existing(trx: TransactionClientContract, actor: TenantActor, requestId: string) {
  const generation = await Generation.query({ client: trx })
    .where('user_id', actor.userId)
    .where('client_request_id', requestId)
    .first()
  if (!generation) return null
  // One statement: two at once on one connection would only run one after the other.
  const pair = await Message.query({ client: trx }).whereIn('id', [
    generation.userMessageId,
    generation.assistantMessageId,
  ])
  const question = pair.find((message) => message.id === generation.userMessageId)
  const reply = pair.find((message) => message.id === generation.assistantMessageId)
  if (!question || !reply) throw new Error(`generation ${generation.id} lost its messages`)
  return accepted(generation, question, reply)
}

const isDuplicateRequest = (error: unknown) =>
  (error as { code?: string; constraint?: string }).code === '23505' &&
  (error as { constraint?: string }).constraint?.includes('client_request_id') === true

/** A message of the branch a reply continues, as planning needs it. */
interface BranchMessage {
  id: string
  parentId: string | null
  role: Message['role']
  content: string
  status: Message['status']
}

/** What a send takes from its assistant. */
type SendAssistant = Pick<
  Assistant,
  'id' | 'tenantId' | 'model' | 'systemPrompt' | 'maxTokens' | 'temperature'
>

/**
 * readForSend's statement: constant text, so it is prepared on each
 * connection (planning this one cost more than running it), with the
 * conversation's columns named, as a prepared statement needs.
 */
let sendReadSql: string | undefined
function sendReadStatement() {
  return (sendReadSql ??= `SELECT ${columnList(Conversation, 'c')},
            EXISTS (SELECT 1 FROM chat_generations g
                     WHERE g.user_id = $2 AND g.client_request_id = $4) AS repeated,
            ${sendRulesSql('$2')},
            (WITH RECURSIVE chain AS (
               SELECT m.id, m.parent_id, m.role, m.content, m.status, 0 AS depth
                 FROM chat_messages m
                WHERE m.id = (CASE WHEN $5 THEN c.active_leaf_id ELSE $6::uuid END)
                  AND m.conversation_id = c.id
               UNION ALL
               SELECT p.id, p.parent_id, p.role, p.content, p.status, chain.depth + 1
                 FROM chat_messages p JOIN chain ON p.id = chain.parent_id
             )
             SELECT coalesce(json_agg(json_build_object(
                      'id', id, 'parentId', parent_id, 'role', role, 'content', content,
                      'status', status) ORDER BY depth DESC), '[]')
               FROM chain) AS send_branch,
            (SELECT json_build_object(
                      'id', a.id, 'tenantId', a.tenant_id, 'model', a.model,
                      'systemPrompt', a.system_prompt, 'maxTokens', a.max_tokens,
                      'temperature', a.temperature)
               FROM chat_assistants a
              WHERE a.id = coalesce($7::uuid, c.assistant_id)
                AND ${visibleAssistantSql('a', '$1', '$2')}) AS send_assistant
       FROM chat_conversations c
      WHERE c.tenant_id = $1 AND c.user_id = $2 AND c.id = $3`)
}

/**
 * Everything a send decides on, in one statement and one round trip
 * (tenancy.read, no transaction to commit): the caller's conversation;
 * whether this clientRequestId was sent before; the send rules; the branch
 * the reply continues (the message it follows and its ancestors, root first
 * — the only context it may see); and the assistant, when one applies and
 * the caller may see it. `leaf` is the message the branch ends at: a
 * regenerated reply, an explicit parent, the conversation's active leaf
 * ('active'), or none (a new first message).
 */
async function readForSend(
  actor: TenantActor,
  conversationId: string,
  requestId: string,
  leaf: string | null | 'active',
  assistantId: string | undefined
) {
  const rows = await tenancy.read(
    { tenantId: actor.tenantId, userId: actor.userId },
    sendReadStatement(),
    [
      actor.tenantId,
      actor.userId,
      isUuid(conversationId) ? conversationId : null,
      requestId,
      leaf === 'active',
      leaf !== 'active' && leaf !== null && isUuid(leaf) ? leaf : null,
      assistantId !== undefined && isUuid(assistantId) ? assistantId : null,
    ],
    { prepared: true }
  )
  const row = rows[0]
  if (!row) return { conversation: null, repeated: false } as const
  const { repeated, send_branch: branch, send_assistant: assistant, ...columns } = row
  const conversation = Conversation.$createFromAdapterResult(columns)!
  return {
    conversation,
    repeated: repeated === true,
    rules: sendRulesFrom(conversation.$extras, actor.userId),
    branch: branch as BranchMessage[],
    assistant: (assistant ?? null) as SendAssistant | null,
  } as const
}

/** What a new reply answers: a new question under `parentId`, or (regenerating) an existing one. */
type Question =
  | { kind: 'new'; content: string; parentId: string | null | undefined }
  | { kind: 'regenerate'; replyId: string }

interface Plan {
  /** The aliases chat may use in this tenant (null: all). */
  allowedModels: string[] | null
  conversation: Conversation
  assistant: SendAssistant | null
  parentId: string | null
  /** The existing question a regenerated reply answers. */
  questionId: string | null
  prompt: ChatParams['messages']
  limits: ChatLimits
  /** The reply answers the conversation's first question and the conversation has no title yet. */
  wantsTitle: boolean
}

const untitled = (conversation: Conversation) => conversation.title === chatConfig.defaultTitle

function plan(
  read: { conversation: Conversation; rules: SendRules; branch: BranchMessage[] },
  assistant: SendAssistant | null,
  question: Question,
  assistantId: string | undefined
): Plan {
  const { conversation, rules, branch } = read
  const { limits, allowedModels: allowed } = rules
  assertChatEnabled(limits)
  // The assistant named must be one the caller sees; the one the conversation continues
  // with is simply left out once it no longer is.
  if (assistantId !== undefined && assistant?.id !== assistantId) throw assistantNotFound()
  const system = assistant?.systemPrompt || chatConfig.systemPrompt
  const maxOutput = assistant?.maxTokens ?? chatConfig.maxOutputTokens
  if (question.kind === 'regenerate') {
    const reply = branch.at(-1)
    if (!reply) throw messageNotFound()
    if (reply.role !== 'assistant' || !reply.parentId) {
      throw new ProblemException(422, 'not_a_reply', 'Only a reply can be regenerated.')
    }
    const chain = branch.slice(0, -1)
    return {
      wantsTitle: untitled(conversation) && chain.length === 1,
      allowedModels: allowed,
      conversation,
      assistant,
      parentId: reply.parentId,
      questionId: reply.parentId,
      prompt: buildPrompt(chain, system, maxOutput),
      limits,
    }
  }
  // Without a parent the question continues the branch shown; null starts a new first message.
  const parentId = question.parentId === undefined ? conversation.activeLeafId : question.parentId
  if (parentId) {
    const parent = branch.at(-1)
    if (!parent) throw messageNotFound()
    if (parent.role !== 'assistant') {
      throw new ProblemException(
        422,
        'parent_not_a_reply',
        'A question follows a reply (or nothing, as a new first message); to edit a question, send the new version with the same parent.'
      )
    }
    if (parent.status === 'generating') {
      throw new ProblemException(
        409,
        'generation_in_progress',
        'The reply you are answering is still being written; wait for it or cancel it.'
      )
    }
  }
  const chain = parentId ? branch : []
  const asked = { role: 'user' as const, content: question.content, status: 'complete' as const }
  return {
    wantsTitle: untitled(conversation) && parentId === null,
    allowedModels: allowed,
    conversation,
    assistant,
    parentId,
    questionId: null,
    prompt: buildPrompt([...chain, asked], system, maxOutput),
    limits,
  }
}

/** Reserves the reply's quota now, so a refusal is this request's 429 and nothing is stored. */
async function reserve(actor: TenantActor, requested: string | undefined, planned: Plan) {
  // An assistant's model is an alias of its own tenant: a public one from elsewhere uses ours.
  const own = planned.assistant?.tenantId === actor.tenantId ? planned.assistant.model : null
  const chosen = requested ?? own ?? undefined
  const model = chosen ?? chatConfig.defaultModel
  try {
    return await gateway.reserve(
      {
        tenantId: actor.tenantId,
        userId: actor.userId,
        userLimits: gatewayLimits(planned.limits),
        allowedModels: planned.allowedModels,
      },
      {
        model,
        messages: planned.prompt,
        max_tokens: planned.assistant?.maxTokens ?? chatConfig.maxOutputTokens,
      }
    )
  } catch (error) {
    if (
      chosen === undefined &&
      error instanceof ProblemException &&
      error.problemCode === 'model_not_found'
    ) {
      throw new ProblemException(
        503,
        'chat_not_configured',
        `Chat answers with the gateway model "${model}", which this tenant does not have: an admin adds a provider (POST /api/v1/gateway/providers) and a model with that alias (POST /api/v1/gateway/models), or sets CHAT_DEFAULT_MODEL to an alias that exists.`
      )
    }
    throw error
  }
}

/**
 * Accepting a message: plan (read the branch, the limits, the assistant),
 * reserve the quota, then store the question, the reply and its generation
 * in one transaction with the conversation locked, so concurrent sends take
 * turns and a repeated clientRequestId finds the first one's rows. The
 * reservation happens between the two units of work, never inside one: the
 * gateway may need connections of its own (routing, the PostgreSQL quota
 * store), and a transaction holding one while waiting for another starves
 * the pool under a burst. A refusal after the reservation gives it back.
 * When this process has a free slot the generation is stored already running
 * and leased to it, and starts at once; otherwise it is queued for a worker.
 */
async function accept(
  actor: TenantActor,
  conversationId: string,
  question: Question,
  options: { model?: string; assistantId?: string; clientRequestId: string }
): Promise<Accepted> {
  const leaf =
    question.kind === 'regenerate'
      ? question.replyId
      : question.parentId === undefined
        ? 'active'
        : question.parentId
  const read = await readForSend(
    actor,
    conversationId,
    options.clientRequestId,
    leaf,
    options.assistantId
  )
  // A repeat answers with the first send's rows, even where the conversation is not found.
  if (read.repeated || !read.conversation) {
    const first = await inActiveTenant(
      actor,
      (trx) => existing(trx, actor, options.clientRequestId),
      { readOnly: true }
    )
    if (first) return first
  }
  if (!read.conversation) throw conversationNotFound()
  const planned = plan(read, read.assistant, question, options.assistantId)

  const ticket = await reserve(actor, options.model, planned)
  const slot = runsGenerationsHere() && generationRunner.takeSlot()
  let outcome: { accepted: Accepted; generation: Generation }
  try {
    outcome = await store(actor, conversationId, question, options.clientRequestId, {
      planned,
      model: ticket.alias,
      ticket,
      slot,
    })
  } catch (error) {
    if (slot) generationRunner.releaseSlot()
    await gateway.release(ticket).catch(() => {})
    if (isDuplicateRequest(error)) {
      const repeated = await inActiveTenant(
        actor,
        (trx) => existing(trx, actor, options.clientRequestId),
        { readOnly: true }
      )
      if (repeated) return repeated
    }
    throw error
  }
  if (slot) generationRunner.runAccepted(outcome.generation)
  return outcome.accepted
}

/** What the two statements after a conversation's claim check: that this send claimed it. */
const CLAIMED = `EXISTS (SELECT 1 FROM chat_conversations c WHERE c.id = $1 AND c.active_leaf_id = $2)`

const MESSAGE_COLUMNS =
  'id, tenant_id, conversation_id, user_id, parent_id, role, content, status, model, assistant_id'
const GENERATION_COLUMNS =
  'id, tenant_id, conversation_id, user_id, client_request_id, user_message_id, ' +
  'assistant_message_id, model, status, cancel_requested, due_at, attempts, ticket, prompt, ' +
  'error_code, finished_at, assistant_id, params, wants_title'

/**
 * Stores an accepted send — the conversation pointed at the new reply, the
 * question and the reply, their generation, the assistant's use, the queue's
 * NOTIFY — as one transaction in one round trip (tenancy.write): it comes
 * right before the reply's first token, so every round trip here is one the
 * user waits for. The claim comes first and locks the conversation, so
 * concurrent sends take turns; every statement after it writes only if this
 * send's claim holds (CLAIMED), so a conversation deleted since planning, or
 * not the caller's, gets nothing written. A repeated clientRequestId fails on
 * its unique key and everything is rolled back.
 */
async function store(
  actor: TenantActor,
  conversationId: string,
  question: Question,
  clientRequestId: string,
  send: { planned: Plan; model: string; ticket: Ticket; slot: boolean }
) {
  const { planned, slot } = send
  const tenantId = actor.tenantId
  const assistantId = planned.assistant?.id ?? null
  const replyId = newId()
  const questionId = planned.questionId ?? newId()
  const owned = { tenant_id: tenantId, conversation_id: conversationId, user_id: actor.userId }
  const reply = {
    ...owned,
    id: replyId,
    parent_id: questionId,
    role: 'assistant',
    content: '',
    status: 'generating',
    model: send.model,
    assistant_id: assistantId,
  }
  const messages =
    planned.questionId === null
      ? [
          {
            ...owned,
            id: questionId,
            parent_id: planned.parentId,
            role: 'user',
            content: (question as { content: string }).content,
            status: 'complete',
            model: null,
            assistant_id: assistantId,
          },
          reply,
        ]
      : [reply]
  const generation = {
    ...owned,
    id: newId(),
    client_request_id: clientRequestId,
    user_message_id: questionId,
    assistant_message_id: replyId,
    model: send.model,
    status: slot ? 'running' : 'queued',
    cancel_requested: false,
    due_at: DateTime.now()
      .plus({ seconds: slot ? chatConfig.generationLeaseSeconds : 0 })
      .toISO(),
    attempts: slot ? 1 : 0,
    ticket: send.ticket,
    prompt: planned.prompt,
    error_code: null,
    finished_at: null,
    assistant_id: assistantId,
    params: planned.assistant
      ? {
          temperature: planned.assistant.temperature ?? undefined,
          maxTokens: planned.assistant.maxTokens ?? undefined,
        }
      : null,
    wants_title: planned.wantsTitle,
  }
  const claim = [conversationId, replyId]
  const [claimed, asked, inserted, stored] = await tenancy.write(
    { tenantId, userId: actor.userId },
    [
      {
        text: `UPDATE chat_conversations
                  SET active_leaf_id = $2, updated_at = now(),
                      assistant_id = coalesce($3::uuid, assistant_id)
                WHERE id = $1 AND tenant_id = $4 AND user_id = $5
            RETURNING id`,
        values: [...claim, assistantId, tenantId, actor.userId],
      },
      // A regenerated reply answers a question that exists already.
      {
        text: `SELECT * FROM chat_messages WHERE id = $3 AND $4 AND ${CLAIMED}`,
        values: [...claim, questionId, planned.questionId !== null],
      },
      {
        text: `INSERT INTO chat_messages (${MESSAGE_COLUMNS})
               SELECT ${MESSAGE_COLUMNS} FROM jsonb_populate_recordset(NULL::chat_messages, $3)
                WHERE ${CLAIMED}
               RETURNING *`,
        values: [...claim, JSON.stringify(messages)],
      },
      {
        text: `INSERT INTO chat_generations (${GENERATION_COLUMNS})
               SELECT ${GENERATION_COLUMNS} FROM jsonb_populate_record(NULL::chat_generations, $3)
                WHERE ${CLAIMED}
               RETURNING *`,
        values: [...claim, JSON.stringify(generation)],
      },
      {
        text: `INSERT INTO chat_assistant_users (assistant_id, user_id, last_used_on)
               SELECT $3::uuid, $4::uuid, current_date WHERE $3::uuid IS NOT NULL AND ${CLAIMED}
               ON CONFLICT (assistant_id, user_id) DO UPDATE SET last_used_on = EXCLUDED.last_used_on
                 WHERE chat_assistant_users.last_used_on < EXCLUDED.last_used_on`,
        values: [...claim, assistantId, actor.userId],
      },
      // A worker elsewhere hears of a generation this process has no slot for.
      {
        text: `SELECT pg_notify($3, $4) WHERE $5 AND ${CLAIMED}`,
        values: [...claim, GENERATIONS_CHANNEL, generation.id, !slot],
      },
    ]
  )
  if (claimed.rowCount === 0) throw conversationNotFound()
  const byId = new Map(
    [...asked.rows, ...inserted.rows].map((row) => [row.id as string, messageFrom(row)])
  )
  const storedGeneration = Generation.$createFromAdapterResult(stored.rows[0])!
  return {
    accepted: accepted(storedGeneration, byId.get(questionId)!, byId.get(replyId)!),
    generation: storedGeneration,
  }
}

/** A message model from its row; the stored tsvector is the index's business, not the API's. */
function messageFrom(row: Record<string, unknown>) {
  const columns = { ...row }
  delete columns.search
  return Message.$createFromAdapterResult(columns)!
}

async function findOwnGeneration(trx: TransactionClientContract, actor: TenantActor, id: string) {
  if (!isUuid(id)) throw generationNotFound()
  const generation = await Generation.query({ client: trx })
    .where('user_id', actor.userId)
    .where('id', id)
    .first()
  if (!generation) throw generationNotFound()
  return generation
}

const TERMINAL = new Set(['completed', 'cancelled', 'failed'])

export const generations = {
  /** A new question (under `parentId`, or the active leaf) and its reply, generated in the background. */
  send(
    actor: TenantActor,
    conversationId: string,
    input: {
      content: string
      parentId?: string | null
      model?: string
      assistantId?: string
      clientRequestId: string
    }
  ) {
    return accept(
      actor,
      conversationId,
      { kind: 'new', content: input.content, parentId: input.parentId },
      input
    )
  },

  /** Another reply to the same question, as a sibling of `replyId`. */
  regenerate(
    actor: TenantActor,
    conversationId: string,
    replyId: string,
    input: { model?: string; clientRequestId: string }
  ) {
    return accept(actor, conversationId, { kind: 'regenerate', replyId }, input)
  },

  async show(actor: TenantActor, id: string) {
    const generation = await inActiveTenant(actor, (trx) => findOwnGeneration(trx, actor, id), {
      readOnly: true,
    })
    return generation.serialize()
  },

  /**
   * Stops a generation; the text written so far stays, marked cancelled.
   * Cancelling a finished one changes nothing.
   */
  async cancel(actor: TenantActor, id: string) {
    const generation = await inActiveTenant(actor, async (trx) => {
      const found = await findOwnGeneration(trx, actor, id)
      if (TERMINAL.has(found.status)) return found
      found.cancelRequested = true
      await found.useTransaction(trx).save()
      // Whichever process runs it hears this at commit (and checks the flag on its lease anyway).
      await trx.rawQuery('SELECT pg_notify(?, ?)', [CANCELS_CHANNEL, found.id])
      return found
    })
    generationRunner.cancelHere(generation.id)
    if (generation.status === 'queued' && !runsGenerationsHere()) return generation.serialize()
    // Not claimed yet: claiming it now finishes it as cancelled at once.
    if (generation.status === 'queued') await generationRunner.start(generation.id)
    return generation.serialize()
  },

  /**
   * The generation's events as server-sent events: what came after
   * Last-Event-ID, then live ones until `done`. When the log is not here (it
   * expired, or without Redis it lives in another process), the reply comes
   * whole in `done` once the database has it. Checks ownership first (a
   * problem, not a stream, for someone else's), then opens the stream and
   * feeds it in the background: the response starts flowing once the
   * controller returns.
   */
  async stream(actor: TenantActor, id: string, open: () => SseStream) {
    if (!isUuid(id)) throw generationNotFound()
    // While its log exists (the reply runs, or ended within the replay window) the
    // owner recorded with it answers; otherwise the database does.
    const owns = await ownsByLog(generationLog(), id, actor)
    if (owns === null)
      await inActiveTenant(actor, (trx) => findOwnGeneration(trx, actor, id), { readOnly: true })
    else if (!owns) throw generationNotFound()
    feed(actor, id, open())
  },

  /**
   * The stream of a reply this request has just accepted (POST with Accept:
   * text/event-stream). `send` found or made it for this actor, so ownership
   * is not read again: under a burst that unit of work queued for a
   * connection behind every other send's and held the first delta back.
   */
  streamAccepted(actor: TenantActor, sent: Accepted, open: () => SseStream) {
    feed(actor, sent.generation.id, open())
  },
}

function feed(actor: TenantActor, id: string, stream: SseStream) {
  void pump(actor, id, stream)
    .catch(async (error) => {
      logger.warn({ err: error, generationId: id }, 'chat stream failed')
      await stream.send({ code: 'stream_failed' }, { event: 'error' })
    })
    .finally(() => stream.close())
}

async function pump(actor: TenantActor, id: string, stream: SseStream) {
  const afterSeq = Math.max(0, Math.floor(Number(stream.lastEventId ?? 0)) || 0)
  let last = afterSeq
  for await (const event of follow(generationLog(), id, afterSeq, stream.signal)) {
    if (event) {
      last = event.seq
      await stream.send(event.data, { event: event.event, id: String(event.seq) })
      continue
    }
    const finished = await inActiveTenant(actor, async (trx) => {
      const generation = await findOwnGeneration(trx, actor, id)
      if (!TERMINAL.has(generation.status)) return null
      const reply = await Message.query({ client: trx })
        .where('id', generation.assistantMessageId)
        .first()
      return { generation, reply }
    })
    if (!finished) continue
    // The events may have landed just now; only when they did not is the database the answer.
    if (((await generationLog().read(id, last)) ?? []).length > 0) continue
    await stream.send(
      {
        generationId: id,
        status: finished.generation.status,
        message: finished.reply?.serialize() ?? null,
      },
      { event: 'done', id: String(last + 1) }
    )
    return
  }
}
