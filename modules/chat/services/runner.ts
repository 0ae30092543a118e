import db from '@adonisjs/lucid/services/db'
import logger from '@adonisjs/core/services/logger'
import { redisConfigured } from '#config/redis'
import env from '#start/env'
import { outsideRequests } from '#app/platform/outside_requests'
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
  /** The reply was taken from this writer: nothing more is appended. */
  #closed = false
  /** When the owner was last recorded with the log (never yet: the first append records it). */
  #ownerRecordedAt = Number.NEGATIVE_INFINITY

  /**
   * `owner`: the generation's `ownerKey`, recorded with its first append and
   * every OWNER_REFRESH_MS (see AppendOptions). `log`: the process's stream
   * log; tests pass another. `mayAppend`: asked before each append whether
   * the reply is still this writer's (ReplyLease.mayAppend): false closes
   * the writer, null (not known now) keeps the events for the next flush.
   */
  constructor(
    private id: string,
    private owner: string,
    private log: Pick<LogStore, 'append'> = generationLog(),
    private mayAppend: () => boolean | null | Promise<boolean | null> = () => true
  ) {}

  emit(event: GenerationEventName, data: Record<string, unknown>) {
    if (this.#closed) return
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
      // Known at once while the lease is fresh: no await, so a tick's appends still meet.
      let allowed = this.mayAppend()
      if (allowed instanceof Promise) allowed = await allowed
      if (allowed === false) {
        this.#closed = true
        this.#queue.length = 0
        return
      }
      if (allowed === null) return
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
    // A lease: lost in a database crash, the generation is claimed again, as after a worker's.
    commitWithoutFlush: true,
    prepared: true,
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

/** How soon a renewal that failed (the database away) is tried again: a lease must not lapse by waiting. */
const RENEW_RETRY_MS = 1000

/**
 * A runner's hold on its reply: the generation's lease (`due_at`), renewed
 * every third of CHAT_GENERATION_LEASE_SECONDS. Once a lease lapses another
 * process's sweep may mark the reply failed and end its stream; if this
 * runner was only stalled (its event loop, or PostgreSQL away longer than the
 * lease), it must then stop, not go on writing a reply whose stream already
 * said `done`. So a renewal that finds the generation no longer running
 * aborts the reply ('taken'), and the writer appends only while the lease is
 * known to be held: after half a lease without a renewal it renews first.
 * A renewal that fails is retried each second until the database answers.
 */
class ReplyLease {
  #state: 'held' | 'ending' | 'taken' | 'settled' = 'held'
  #renewedAt = performance.now()
  #renewing: Promise<boolean | null> | null = null
  #timer: NodeJS.Timeout | null = null

  constructor(
    private generationId: string,
    private controller: AbortController
  ) {}

  start() {
    this.#schedule(this.#periodMs())
  }

  /**
   * The runner is storing the reply's end, which finds out itself whether it
   * was taken: a renewal meanwhile that finds the generation ended may be
   * seeing that very end, so it decides nothing (the writer waits).
   */
  ending() {
    if (this.#state === 'held') this.#state = 'ending'
  }

  /** The reply is stored by this runner: what it appends from here is its own, whatever the lease. */
  settle() {
    this.#state = 'settled'
  }

  stop() {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** True while the reply is this runner's; false once taken; null when the database cannot say now. */
  mayAppend(): boolean | Promise<boolean | null> {
    if (this.#state === 'settled') return true
    if (this.#state === 'taken') return false
    const age = performance.now() - this.#renewedAt
    if (age < (chatConfig.generationLeaseSeconds * 1000) / 2) return true
    return this.#renew()
  }

  #periodMs() {
    return (chatConfig.generationLeaseSeconds * 1000) / 3
  }

  #schedule(ms: number) {
    this.#timer = setTimeout(() => {
      void this.#renew().then((held) => {
        if (this.#timer && this.#state !== 'taken') {
          this.#schedule(held === null ? RENEW_RETRY_MS : this.#periodMs())
        }
      })
    }, ms)
    this.#timer.unref()
  }

  #renew() {
    this.#renewing ??= this.#renewOnce().finally(() => (this.#renewing = null))
    return this.#renewing
  }

  async #renewOnce(): Promise<boolean | null> {
    const startedAt = performance.now()
    let rows: Array<{ status: string; cancel_requested: boolean }>
    try {
      // Only a running generation's lease moves; any other is returned as it is, to say why.
      ;({ rows } = await db.rawQuery(
        `UPDATE chat_generations
            SET due_at = CASE WHEN status = 'running'
                              THEN now() + make_interval(secs => ?) ELSE due_at END
          WHERE id = ? RETURNING status, cancel_requested`,
        [chatConfig.generationLeaseSeconds, this.generationId]
      ))
    } catch {
      return null
    }
    if (this.#state === 'settled' || this.#state === 'taken') return this.#state === 'settled'
    const [row] = rows
    if (!row) {
      // Deleted with its conversation (whose delete also sends the cancel signal, maybe
      // missed): the reply stops as cancelled, and nobody else will end its stream.
      this.#state = 'settled'
      this.controller.abort('cancel')
      return true
    }
    if (row.status !== 'running') {
      if (this.#state === 'ending') return null
      logger.warn(
        { generationId: this.generationId, status: row.status },
        'chat: reply taken from its runner after its lease lapsed; stopping'
      )
      this.taken()
      return false
    }
    this.#renewedAt = startedAt
    if (row.cancel_requested) this.controller.abort('cancel')
    return true
  }

  /** Another process ended the reply (its sweep): this runner stops and appends nothing more. */
  taken() {
    this.#state = 'taken'
    this.controller.abort('taken')
  }
}

async function run(generation: Generation) {
  const controller = new AbortController()
  running.set(generation.id, controller)
  listenForCancels()
  const lease = new ReplyLease(generation.id, controller)
  lease.start()
  const writer = new EventWriter(generation.id, ownerKey(generation), undefined, () =>
    lease.mayAppend()
  )

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
  }
  try {
    if (ticket) await gateway.release(ticket)
    const status = failure ? 'failed' : controller.signal.aborted ? 'cancelled' : 'completed'
    await finish(generation, { status, content, usage, failure, writer, lease })
  } catch (error) {
    // Nothing awaits a runner: a failure here must be logged, never an unhandled rejection.
    // The lease then expires and the sweep ends the reply as interrupted.
    logger.error({ err: error, generationId: generation.id }, 'chat: reply not finished')
  } finally {
    lease.stop()
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
    lease: ReplyLease
  }
) {
  const { content, usage, writer, lease } = outcome
  // The title is asked for while the reply is stored: its answer is what `done` waits for.
  const question = outcome.status === 'completed' ? titleQuestion(generation) : null
  const titling = question === null ? null : askTitle(generation, question, content)
  lease.ending()
  const stored = await storeOutcome(generation, outcome, {
    error_code: outcome.failure?.code ?? null,
    // With a title to write, the generation ends with it, so readers wait for its event.
    endsNow: titling === null,
  })
  if (stored.kind === 'taken') {
    // A sweep marked it failed and ended its stream: what this runner wrote is not its to end.
    lease.taken()
    return
  }
  lease.settle()
  const message = stored.kind === 'stored' ? stored.message : null
  // A deleted conversation's reply ends as cancelled, whatever stopped it.
  const status = stored.kind === 'gone' ? 'cancelled' : outcome.status
  const failure = stored.kind === 'gone' ? null : outcome.failure
  if (usage) {
    writer.emit('usage', {
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
    })
  }
  if (failure) writer.emit('error', failure)
  if (titling !== null && message !== null) {
    const title = await storeTitle(generation, await titling, [
      endStatement(generation, status, failure?.code ?? null),
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
 * that ends — at 200 streams, 100 a second.
 *
 * Each statement holds only while the reply is still being generated, so
 * the runner and a sweep that took the reply after its lease lapsed never
 * both end it: both lock the reply's row first (recoverAbandoned), and
 * whichever comes second finds it settled. The outcome: `stored` with the
 * reply; `gone` when its conversation was deleted meanwhile (then no event
 * either, since the message it would describe is gone); `taken` when a
 * sweep ended it.
 */
async function storeOutcome(
  generation: Generation,
  outcome: { status: 'completed' | 'cancelled' | 'failed'; content: string; usage: Usage | null },
  finished: { error_code: string | null; endsNow: boolean }
): Promise<{ kind: 'stored'; message: Message } | { kind: 'gone' } | { kind: 'taken' }> {
  const { status, content, usage } = outcome
  const reply = {
    text: `UPDATE chat_messages
              SET content = $2, status = $3, prompt_tokens = $4, completion_tokens = $5,
                  error_code = $6, updated_at = now()
            WHERE id = $1 AND status = 'generating'
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
            // Only this runner's statement above makes it complete, and only once.
            onlyIf: {
              sql: `EXISTS (SELECT 1 FROM chat_messages WHERE id = $1 AND status = 'complete')`,
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
  if (completed) events.wake()
  const row = stored.rows[0] as Record<string, unknown> | undefined
  if (row) {
    delete row.search
    return { kind: 'stored', message: Message.$createFromAdapterResult(row)! }
  }
  // Rare (a deleted conversation, a lapsed lease): one more round trip to tell which.
  const { rows } = await db.rawQuery('SELECT 1 FROM chat_generations WHERE id = ?', [generation.id])
  return rows.length === 0 ? { kind: 'gone' } : { kind: 'taken' }
}

/** The generation's end as a statement (status, error, and the ticket and prompt it no longer needs). */
function endStatement(generation: Generation, status: string, errorCode: string | null) {
  return {
    text: `UPDATE chat_generations
              SET status = $2, error_code = $3, finished_at = now(), ticket = NULL, prompt = NULL
            WHERE id = $1 AND status = 'running'`,
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

  /**
   * Runs a generation this process accepted with a slot (stored running, leased to it).
   * It runs on after the request that sent it has answered, so it runs outside that
   * request's context, as a claimed one does: inside, every await and timer of the
   * reply would keep the whole request alive until the reply ends (app/platform/outside_requests.ts).
   */
  runAccepted(generation: Generation) {
    promised = Math.max(0, promised - 1)
    outsideRequests(() => void run(generation))
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
 * Generations whose runner stopped renewing its lease (the process died, or
 * stalled longer than the lease): failed, partial text kept, and their
 * streams told. A process never sweeps the replies it is running itself: a
 * lease of its own lapses only when PostgreSQL was away or its event loop
 * stalled, and its runner is alive to go on once it renews.
 *
 * Their quota reservation stays charged, never given back: from here nobody
 * can tell whether the runner had handed it to the gateway and the gateway
 * had settled it (a reply that ended but whose end was not stored) — giving
 * it back then would refund it twice — or whether the upstream was mid-reply,
 * generating tokens the provider bills. Charging the reservation (the
 * prompt's estimate plus max_tokens, what a reply can use at most) errs on
 * the side a budget needs. A runner that was only stalled still settles its
 * own call with the gateway when it learns the reply was taken.
 */
async function recoverAbandoned() {
  // Across tenants, like every job claim; each is then taken in its tenant.
  const { rows } = await db.rawQuery(
    `SELECT id, tenant_id, user_id, assistant_message_id FROM chat_generations
      WHERE status = 'running' AND due_at < now() - interval '5 seconds'
        AND NOT (id = ANY(?::uuid[]))
      ORDER BY due_at LIMIT 100`,
    [[...running.keys()]]
  )
  let taken = 0
  for (const row of rows as Array<{
    id: string
    tenant_id: string
    user_id: string
    assistant_message_id: string
  }>) {
    if (await takeAbandoned(row)) taken++
  }
  return taken
}

/**
 * Takes one lapsed reply, in one transaction: the reply's row is locked
 * first, as the runner's end locks it first (storeOutcome), so a runner that
 * ends its reply at this moment and this sweep are one after the other;
 * whichever is second finds the reply settled and leaves it. A reply still
 * being generated is marked failed with its generation, and its stream gets
 * `error` and `done`. A reply already stored whose generation did not end
 * (its runner stopped while writing the title) only has its generation
 * ended, by the reply's own state; its readers get `done` from the database.
 */
async function takeAbandoned(row: {
  id: string
  tenant_id: string
  user_id: string
  assistant_message_id: string
}) {
  const [, took, , reread] = await tenancy.write({ tenantId: row.tenant_id }, [
    {
      text: 'SELECT 1 FROM chat_messages WHERE id = $1 FOR UPDATE',
      values: [row.assistant_message_id],
    },
    {
      text: `UPDATE chat_generations g
                SET status = CASE m.status WHEN 'generating' THEN 'failed'
                                           WHEN 'complete' THEN 'completed' ELSE m.status END,
                    error_code = CASE m.status WHEN 'generating' THEN 'interrupted'
                                               ELSE m.error_code END,
                    finished_at = now(), ticket = NULL, prompt = NULL
               FROM chat_messages m
              WHERE g.id = $1 AND m.id = g.assistant_message_id
                AND g.status = 'running' AND g.due_at < now() - interval '5 seconds'
          RETURNING m.status AS reply_status`,
      values: [row.id],
    },
    {
      text: `UPDATE chat_messages SET status = 'failed', error_code = 'interrupted', updated_at = now()
              WHERE id = $1 AND status = 'generating'
                AND EXISTS (SELECT 1 FROM chat_generations WHERE id = $2 AND status = 'failed')`,
      values: [row.assistant_message_id, row.id],
    },
    { text: 'SELECT * FROM chat_messages WHERE id = $1', values: [row.assistant_message_id] },
  ])
  const tookRow = took.rows[0] as { reply_status: string } | undefined
  if (!tookRow) return false
  if (tookRow.reply_status !== 'generating') return true
  const stored = reread.rows[0] as Record<string, unknown> | undefined
  if (stored) delete stored.search
  const message = stored ? Message.$createFromAdapterResult(stored) : null
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
  return true
}
