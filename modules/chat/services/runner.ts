import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'
import { redisConfigured } from '#config/redis'
import env from '#start/env'
import { ProblemException } from '#app/http/problem'
import { events } from '#app/messaging/outbox'
import { changeFeed } from '#app/platform/change_feed'
import { failureLog } from '#app/platform/failure_log'
import { isUuid } from '#app/platform/ids'
import { jobQueue, millisecondsOrNull } from '#app/platform/job_queue'
import { isModuleSelected } from '#app/platform/module_selection'
import { tenancy } from '#app/tenancy/tenancy'
import { gateway, type Ticket, type Usage } from '#modules/gateway/index'
import { chatConfig } from '#modules/chat/config'
import Generation from '#modules/chat/models/generation'
import Message from '#modules/chat/models/message'
import {
  generationLog,
  ownerKey,
  type GenerationEvent,
  type GenerationEventName,
  type LogStore,
} from '#modules/chat/services/generation_log'
import { askTitle, storeTitle } from '#modules/chat/services/titles'

/** NOTIFY channels: a queued generation for a worker elsewhere; a cancel for whoever runs it. */
export const GENERATIONS_CHANNEL = 'chat_generations'
export const CANCELS_CHANNEL = 'chat_generation_cancels'

/*
 * Generations are claimed like any job (DESIGN.md §5), across tenants as the
 * table owner; what they read and write of the conversation goes through the
 * tenant's unit of work. A generation runs once: a runner that dies leaves
 * its lease to expire and the sweep marks it failed, keeping the partial text
 * (running it again would send the user a second, different reply).
 */
const queue = jobQueue({
  table: 'chat_generations',
  dueColumn: 'due_at',
  stateColumn: 'status',
  states: { claimable: ['queued'], pending: 'queued', dead: 'failed' },
  maxAttempts: 1,
  backoff: { baseMs: 1000, maxMs: 1000 },
})

interface ClaimedRow {
  id: string
  tenant_id: string
}

/** How often a writer records its generation's owner again, which restarts the running log's expiry. */
const OWNER_REFRESH_MS = 5 * 60 * 1000

/**
 * Writers holding gathered deltas, flushed together on one clock: their
 * appends then meet in one turn of the event loop, and the Redis log sends
 * them as one pipeline (one write per tick for every reply this process
 * writes, not one per reply).
 */
const gatheringWriters = new Set<EventWriter>()
let flushClock: NodeJS.Timeout | null = null

function flushOnClock(writer: EventWriter) {
  gatheringWriters.add(writer)
  flushClock ??= setTimeout(() => {
    flushClock = null
    const due = [...gatheringWriters]
    gatheringWriters.clear()
    for (const each of due) each.flushNow()
  }, chatConfig.deltaFlushMs)
}

/**
 * Appends to the stream log that fail: with Redis away every tick of every
 * reply fails (8,000 a second at 200 streams), so one line per 10 s with a
 * count, and one when they land again. Readers meanwhile see the result from
 * the database when it is final.
 */
const appendFailures = failureLog({
  failed: 'chat stream: events not stored',
  recovered: 'chat stream: events stored again',
})

/** The same for the partial text saved every CHAT_SAVE_EVERY_MS while replies stream. */
const saveFailures = failureLog({
  failed: 'chat: partial reply not saved',
  recovered: 'chat: partial replies saved again',
})

/**
 * Numbers and appends one generation's events. The first delta goes out at
 * once; later ones are gathered until the shared flush clock's next tick (at
 * most CHAT_DELTA_FLUSH_MS) and appended as one (still only the new text), so
 * a fast model costs a few events a second per stream instead of one per
 * token — in the log, on Redis and on every reader's connection. Other
 * events flush what is gathered first, so the order never changes. At most
 * one append is in flight.
 */
export class EventWriter {
  #seq = 0
  #queue: Array<{ event: GenerationEventName; data: Record<string, unknown> }> = []
  #flushing: Promise<void> | null = null
  #sentDelta = false
  /** When the owner was last recorded with the log (never yet: the first append records it). */
  #ownerRecordedAt = Number.NEGATIVE_INFINITY

  /**
   * `owner`: the generation's `ownerKey`, recorded with its first append and
   * every OWNER_REFRESH_MS (see AppendOptions). `log`: the process's stream
   * log; tests pass another.
   */
  constructor(
    private id: string,
    private owner: string,
    private log: Pick<LogStore, 'append'> = generationLog()
  ) {}

  emit(event: GenerationEventName, data: Record<string, unknown>) {
    const last = this.#queue.at(-1)
    if (event === 'delta' && last?.event === 'delta') {
      last.data = { text: `${last.data.text}${data.text}` }
    } else {
      this.#queue.push({ event, data })
    }
    if (event === 'delta' && this.#sentDelta && chatConfig.deltaFlushMs > 0) {
      flushOnClock(this)
      return
    }
    if (event === 'delta') this.#sentDelta = true
    this.flushNow()
  }

  flushNow() {
    gatheringWriters.delete(this)
    this.#flushing ??= this.#flush().finally(() => (this.#flushing = null))
  }

  async #flush() {
    while (this.#queue.length) {
      const batch: GenerationEvent[] = this.#queue
        .splice(0)
        .map((entry) => ({ seq: ++this.#seq, ...entry }))
      const recordOwner = performance.now() - this.#ownerRecordedAt >= OWNER_REFRESH_MS
      try {
        await this.log.append(this.id, batch, {
          finished: batch.some((event) => event.event === 'done'),
          ...(recordOwner ? { owner: this.owner } : {}),
        })
        if (recordOwner) this.#ownerRecordedAt = performance.now()
        appendFailures.succeeded()
      } catch (error) {
        appendFailures.failed(error, { generationId: this.id })
      }
    }
  }

  async drain() {
    if (gatheringWriters.has(this)) this.flushNow()
    while (this.#flushing) await this.#flushing
  }
}

const running = new Map<string, AbortController>()
/** Slots promised to generations being accepted in this process, not yet running. */
let promised = 0
let listening = false

function listenForCancels() {
  if (listening) return
  listening = true
  changeFeed.on(CANCELS_CHANNEL, (id) => running.get(id)?.abort('cancel'))
  changeFeed.ensure()
}

/** Whether this process runs the generations it accepts (a web-only process with Redis hands them to a worker). */
export function runsGenerationsHere() {
  if (!isModuleSelected('chat', env.get('ATRIUM_MODULES'))) return false
  return (env.get('ATRIUM_ROLE') ?? 'all') !== 'web' || !redisConfigured()
}

async function claim(options: { id?: string; limit: number }) {
  const free = chatConfig.maxConcurrentGenerations - running.size - promised
  if (free <= 0) return []
  return queue.claim<ClaimedRow>({
    limit: Math.min(free, options.limit),
    leaseSeconds: chatConfig.generationLeaseSeconds,
    set: `status = 'running'`,
    where: options.id ? { sql: 't.id = ?', bindings: [options.id] } : undefined,
    returning: 't.id, t.tenant_id',
  })
}

const problemOf = (error: unknown) =>
  error instanceof ProblemException
    ? { code: error.problemCode, detail: error.message }
    : { code: 'generation_failed', detail: 'The reply could not be generated.' }

/** Loads a claimed generation and runs it (a generation that vanished, with its conversation, is skipped). */
async function runClaimed(claimed: ClaimedRow) {
  const generation = await tenancy
    .run(claimed.tenant_id, (trx) =>
      Generation.query({ client: trx }).where('id', claimed.id).first()
    )
    .catch((error) => {
      logger.warn({ err: error, generationId: claimed.id }, 'chat: claimed generation not loaded')
      return null
    })
  if (generation) await run(generation)
}

async function run(generation: Generation) {
  const controller = new AbortController()
  running.set(generation.id, controller)
  listenForCancels()
  const writer = new EventWriter(generation.id, ownerKey(generation))
  const renew = setInterval(
    () => {
      void db
        .rawQuery(
          `UPDATE chat_generations SET due_at = now() + make_interval(secs => ?)
            WHERE id = ? RETURNING cancel_requested`,
          [chatConfig.generationLeaseSeconds, generation.id]
        )
        .then(({ rows }) => {
          if (rows[0]?.cancel_requested) controller.abort('cancel')
        })
        .catch(() => {})
    },
    (chatConfig.generationLeaseSeconds * 1000) / 3
  )
  renew.unref()

  let content = ''
  let usage: Usage | null = null
  let failure: { code: string; detail: string } | null = null
  let ticket: Ticket | null = generation.ticket
  try {
    writer.emit('message.created', {
      generationId: generation.id,
      conversationId: generation.conversationId,
      userMessageId: generation.userMessageId,
      assistantMessageId: generation.assistantMessageId,
      model: generation.model,
    })
    if (generation.cancelRequested) controller.abort('cancel')
    controller.signal.throwIfAborted()
    // Handed over before the call: from here the gateway settles or releases the reservation
    // on every path, a failed call included, so it must not be given back here as well.
    const handedOver = ticket ?? undefined
    ticket = null
    const opened = await gateway.chatStream(
      { tenantId: generation.tenantId, userId: generation.userId },
      {
        model: generation.model,
        messages: generation.prompt ?? [],
        max_tokens: generation.params?.maxTokens ?? chatConfig.maxOutputTokens,
        ...(generation.params?.temperature !== undefined
          ? { temperature: generation.params.temperature }
          : {}),
      },
      { signal: controller.signal, ticket: handedOver }
    )
    let savedAt = performance.now()
    for await (const chunk of opened.result) {
      // PostgreSQL text cannot hold NUL, and a model can be talked into writing one.
      const text = chunk.choices[0]?.delta?.content?.replaceAll('\u0000', '')
      if (text) {
        content += text
        writer.emit('delta', { text })
      }
      if (chunk.usage) usage = chunk.usage
      if (performance.now() - savedAt > chatConfig.saveEveryMs) {
        savedAt = performance.now()
        await saveContent(generation, content)
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) {
      failure = problemOf(error)
      if (!(error instanceof ProblemException))
        logger.error({ err: error, generationId: generation.id }, 'chat generation failed')
    } else if (controller.signal.reason !== 'cancel') {
      failure = { code: 'interrupted', detail: 'The server stopped while writing this reply.' }
    }
  } finally {
    clearInterval(renew)
  }
  try {
    if (ticket) await gateway.release(ticket)
    const status = failure ? 'failed' : controller.signal.aborted ? 'cancelled' : 'completed'
    await finish(generation, { status, content, usage, failure, writer })
  } catch (error) {
    // Nothing awaits a runner: a failure here must be logged, never an unhandled rejection.
    // The lease then expires and the sweep ends the reply as interrupted.
    logger.error({ err: error, generationId: generation.id }, 'chat: reply not finished')
  } finally {
    await writer.drain()
    running.delete(generation.id)
  }
}

/**
 * Saves the partial text while a reply streams. One statement as the table
 * owner, by the reply's own id (the server's, never a caller's): every two
 * seconds for each of hundreds of streams, a full unit of work (BEGIN, role,
 * UPDATE, COMMIT) would be four round trips where one does.
 */
function saveContent(generation: Generation, content: string) {
  return db
    .rawQuery(
      `UPDATE chat_messages SET content = ?, updated_at = now()
        WHERE id = ? AND tenant_id = ? AND status = 'generating'`,
      [content, generation.assistantMessageId, generation.tenantId]
    )
    .then(
      () => saveFailures.succeeded(),
      (error) => saveFailures.failed(error, { generationId: generation.id })
    )
}

async function finish(
  generation: Generation,
  outcome: {
    status: 'completed' | 'cancelled' | 'failed'
    content: string
    usage: Usage | null
    failure: { code: string; detail: string } | null
    writer: EventWriter
  }
) {
  const { status, content, usage, failure, writer } = outcome
  const errorCode = failure?.code ?? null
  // The title is asked for while the reply is stored: its answer is what `done` waits for.
  const question = status === 'completed' ? titleQuestion(generation) : null
  const titling = question === null ? null : askTitle(generation, question, content)
  const message = await storeOutcome(generation, outcome, {
    error_code: errorCode,
    // With a title to write, the generation ends with it, so readers wait for its event.
    endsNow: titling === null,
  })
  if (usage) {
    writer.emit('usage', {
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
    })
  }
  if (failure) writer.emit('error', failure)
  if (titling !== null && message !== null) {
    const title = await storeTitle(generation, await titling, [
      endStatement(generation, status, errorCode),
    ])
    if (title) writer.emit('title', { conversationId: generation.conversationId, title })
  }
  writer.emit('done', {
    generationId: generation.id,
    status,
    message: message?.serialize() ?? null,
  })
}

/**
 * The reply's final state, its chat.message_completed event and (without a
 * title to wait for) the generation's end: one transaction in one round trip
 * (tenancy.write). As a unit of work it was six (BEGIN, settings, three
 * statements, COMMIT) with a connection held throughout, for every reply
 * that ends — at 200 streams, 100 a second. Returns the stored reply, or
 * null when its conversation was deleted meanwhile: then no event either,
 * since the message it would describe is gone (the event's own condition).
 */
async function storeOutcome(
  generation: Generation,
  outcome: { status: 'completed' | 'cancelled' | 'failed'; content: string; usage: Usage | null },
  finished: { error_code: string | null; endsNow: boolean }
) {
  const { status, content, usage } = outcome
  const reply = {
    text: `UPDATE chat_messages
              SET content = $2, status = $3, prompt_tokens = $4, completion_tokens = $5,
                  error_code = $6, updated_at = now()
            WHERE id = $1
        RETURNING *`,
    values: [
      generation.assistantMessageId,
      content,
      status === 'completed' ? 'complete' : status,
      usage?.prompt_tokens ?? null,
      usage?.completion_tokens ?? null,
      finished.error_code,
    ],
  }
  const completed =
    status === 'completed'
      ? events.statement(
          [
            {
              type: 'chat.message_completed',
              payload: {
                messageId: generation.assistantMessageId,
                conversationId: generation.conversationId,
                userId: generation.userId,
                model: generation.model,
                promptTokens: usage?.prompt_tokens ?? null,
                completionTokens: usage?.completion_tokens ?? null,
              },
              options: {
                version: 1,
                tenantId: generation.tenantId,
                aggregateId: generation.conversationId,
              },
            },
          ],
          {
            onlyIf: {
              sql: 'EXISTS (SELECT 1 FROM chat_messages WHERE id = $1)',
              values: [generation.assistantMessageId],
            },
          }
        )
      : null
  const ended = finished.endsNow ? endStatement(generation, status, finished.error_code) : null
  const [stored] = await tenancy.write(
    { tenantId: generation.tenantId },
    [reply, completed, ended].filter((statement) => statement !== null)
  )
  const row = stored.rows[0] as Record<string, unknown> | undefined
  if (!row) return null
  delete row.search
  return Message.$createFromAdapterResult(row)!
}

/** The generation's end as a statement (status, error, and the ticket and prompt it no longer needs). */
function endStatement(generation: Generation, status: string, errorCode: string | null) {
  return {
    text: `UPDATE chat_generations
              SET status = $2, error_code = $3, finished_at = now(), ticket = NULL, prompt = NULL
            WHERE id = $1`,
    values: [generation.id, status, errorCode],
  }
}

/**
 * The question to title the conversation by, when this reply was accepted as
 * the first of a conversation still untitled: the prompt's last message
 * (buildPrompt always keeps it). A rename meanwhile still wins, since the
 * title is written only over the default one.
 */
function titleQuestion(generation: Generation) {
  if (!generation.wantsTitle) return null
  const question = generation.prompt?.at(-1)
  return question?.role === 'user' && typeof question.content === 'string' ? question.content : null
}

export const generationRunner = {
  /**
   * Promises a slot to a generation about to be accepted here, so it can be
   * stored already running (no claim round trip). False when this process is
   * full: the generation is queued for whoever has room.
   */
  takeSlot() {
    if (running.size + promised >= chatConfig.maxConcurrentGenerations) return false
    promised++
    return true
  },

  releaseSlot() {
    promised = Math.max(0, promised - 1)
  },

  /** Runs a generation this process accepted with a slot (stored running, leased to it). */
  runAccepted(generation: Generation) {
    promised = Math.max(0, promised - 1)
    void run(generation)
  },

  /**
   * Claims a queued generation and runs it in the background, if this process
   * has a free slot. Anything but a generation id is no generation: the change
   * feed says '*' to every listener when it was down or is closing, and what
   * it may have missed is claimed by the worker's next pass.
   */
  async start(id: string) {
    if (!isUuid(id)) return false
    const [claimed] = await claim({ id, limit: 1 })
    if (claimed) void runClaimed(claimed)
    return claimed !== undefined
  },

  /**
   * One pass of the worker: generations nobody claimed (queued by a web-only
   * process, or while this one was full), and runners presumed dead.
   */
  async pass() {
    if (!listeningForQueued) {
      listeningForQueued = true
      changeFeed.on(GENERATIONS_CHANNEL, (id) => {
        generationRunner.start(id).catch((error) => {
          // The next pass claims it; a NOTIFY is only a hint to start sooner.
          logger.warn({ err: error, generationId: id }, 'chat: queued generation not claimed')
        })
      })
      changeFeed.ensure()
    }
    const claimed = await claim({ limit: 50 })
    for (const row of claimed) void runClaimed(row)
    return claimed.length + (await recoverAbandoned())
  },

  /**
   * Milliseconds until the worker's pass has something to do by time alone:
   * a queued generation nobody claimed, or a running one whose lease lapses
   * (recoverAbandoned's five seconds after it); null when none waits.
   */
  async nextDueMs(): Promise<number | null> {
    const { rows } = await db.rawQuery(
      `SELECT (extract(epoch FROM min(CASE WHEN status = 'queued' THEN due_at
                                          ELSE due_at + interval '5 seconds' END) - now()) * 1000)::float8 AS ms
         FROM chat_generations WHERE status IN ('queued', 'running')`
    )
    return millisecondsOrNull(rows[0]?.ms)
  },

  /** Asks the runner of a generation in this process to stop (the others hear it by NOTIFY). */
  cancelHere(id: string) {
    running.get(id)?.abort('cancel')
  },

  /** Stops every generation of this process, keeping what each wrote (for shutdown). */
  async stopAll() {
    const stopping = [...running.values()]
    for (const controller of stopping) controller.abort('shutdown')
    const deadline = Date.now() + 5000
    while (running.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  },

  get active() {
    return running.size
  },
}

let listeningForQueued = false

/**
 * Generations whose runner stopped renewing its lease (the process died):
 * failed, partial text kept, and their streams told.
 *
 * Their quota reservation stays charged, never given back: from here nobody
 * can tell whether the runner had handed it to the gateway and the gateway
 * had settled it (a reply that ended but whose end was not stored) — giving
 * it back then would refund it twice — or whether the upstream was mid-reply,
 * generating tokens the provider bills. Charging the reservation (the
 * prompt's estimate plus max_tokens, what a reply can use at most) errs on
 * the side a budget needs.
 */
async function recoverAbandoned() {
  // Across tenants, like every job claim; each row is then finished in its tenant.
  const { rows } = await db.rawQuery(
    `UPDATE chat_generations SET status = 'failed', error_code = 'interrupted', finished_at = now(),
            ticket = NULL, prompt = NULL
      WHERE status = 'running' AND due_at < now() - interval '5 seconds'
      RETURNING id, tenant_id, user_id, assistant_message_id`
  )
  for (const row of rows as Array<{
    id: string
    tenant_id: string
    user_id: string
    assistant_message_id: string
  }>) {
    const message = await tenancy.run(row.tenant_id, async (trx) => {
      await Message.query({ client: trx })
        .where('id', row.assistant_message_id)
        .where('status', 'generating')
        .update({ status: 'failed', error_code: 'interrupted' })
      return Message.query({ client: trx }).where('id', row.assistant_message_id).first()
    })
    const log = generationLog()
    const past = (await log.read(row.id, 0)) ?? []
    const seq = past.at(-1)?.seq ?? 0
    await log.append(
      row.id,
      [
        {
          seq: seq + 1,
          event: 'error',
          data: { code: 'interrupted', detail: 'The server stopped while writing this reply.' },
        },
        {
          seq: seq + 2,
          event: 'done',
          data: { generationId: row.id, status: 'failed', message: message?.serialize() ?? null },
        },
      ],
      { finished: true, owner: ownerKey({ tenantId: row.tenant_id, userId: row.user_id }) }
    )
  }
  return rows.length
}
