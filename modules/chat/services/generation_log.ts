import logger from '@adonisjs/core/services/logger'
import redis from '@adonisjs/redis/services/main'
import { dedicatedRedis } from '#app/platform/shared_redis'
import { outsideRequests } from '#app/platform/outside_requests'
import { redisConfigured } from '#config/redis'
import { chatConfig } from '#modules/chat/config'

/*
| Every event a generation emits, numbered from 1, kept while it runs and
| for CHAT_REPLAY_SECONDS after: a stream that reconnects with Last-Event-ID
| gets what it missed from here, then the live events. With Redis the log is
| shared by every process (a list per generation for the past, a channel for
| what comes next), so the reply can be generated in one process and read in
| another; without Redis it lives in this process's memory.
*/

export type GenerationEventName = 'message.created' | 'delta' | 'usage' | 'title' | 'done' | 'error'

export interface GenerationEvent {
  seq: number
  event: GenerationEventName
  data: Record<string, unknown>
}

/** The events after which nothing more comes. */
export const isTerminal = (event: GenerationEvent) => event.event === 'done'

export interface AppendOptions {
  /** The last append: the log (and its owner) is kept for CHAT_REPLAY_SECONDS from now. */
  finished?: boolean
  /**
   * Whose reply this is (`ownerKey`), kept beside the log for as long as it:
   * a stream opened while the log exists checks ownership here instead of in
   * a unit of work. Written by the runner from the generation's own row, on
   * its first append and again every few minutes (each time it is given, the
   * running log's expiry starts over too); appends in between carry only
   * their events.
   */
  owner?: string
}

/** Who may read a generation's log: its tenant and its user. */
export const ownerKey = (owner: { tenantId: string; userId: string }) =>
  `${owner.tenantId}:${owner.userId}`

/**
 * Whether `actor` owns generation `id` by the record kept with its log: true
 * or false while the log exists, null when it says nothing — no log here, or
 * a log that cannot be read (Redis away) — and the database must decide.
 */
export async function ownsByLog(
  log: Pick<LogStore, 'ownerOf'>,
  id: string,
  actor: { tenantId: string; userId: string }
): Promise<boolean | null> {
  const owner = await log.ownerOf(id).catch(() => null)
  return owner === null ? null : owner === ownerKey(actor)
}

export interface LogStore {
  /** Appends in order (one writer per generation) and tells the followers. */
  append(id: string, events: GenerationEvent[], options?: AppendOptions): Promise<void>
  /** The events after `afterSeq`, or null when the log is unknown here (expired, or another process's). */
  read(id: string, afterSeq: number): Promise<GenerationEvent[] | null>
  /** The owner recorded with the log (`ownerKey`), or null when the log holds none here. */
  ownerOf(id: string): Promise<string | null>
  /** Live events as they are appended; resolves once listening. Returns the unsubscribe. */
  listen(id: string, onEvent: (event: GenerationEvent) => void): Promise<() => void>
  /** Closes what the store opened (its subscriber connection). */
  close(): Promise<void>
}

/** This process's memory: enough for one process; logs expire after the replay window. */
export function memoryLogStore(): LogStore & { size(): number } {
  const logs = new Map<
    string,
    {
      events: GenerationEvent[]
      listeners: Set<(e: GenerationEvent) => void>
      owner?: string
    }
  >()
  const entry = (id: string) => {
    let log = logs.get(id)
    if (!log) {
      log = { events: [], listeners: new Set() }
      logs.set(id, log)
    }
    return log
  }
  return {
    async append(id, events, options = {}) {
      const log = entry(id)
      if (options.owner) log.owner = options.owner
      for (const event of events) {
        log.events.push(event)
        for (const listener of log.listeners) listener(event)
      }
      if (options.finished) {
        // Minutes long: made outside any request, or it would keep the request alive that long.
        outsideRequests(() =>
          setTimeout(() => logs.delete(id), chatConfig.replaySeconds * 1000).unref()
        )
      }
    },
    async read(id, afterSeq) {
      const log = logs.get(id)
      if (!log || log.events.length === 0) return null
      return log.events.filter((event) => event.seq > afterSeq)
    },
    async ownerOf(id) {
      return logs.get(id)?.owner ?? null
    },
    async listen(id, onEvent) {
      const log = entry(id)
      log.listeners.add(onEvent)
      return () => {
        log.listeners.delete(onEvent)
        if (log.listeners.size === 0 && log.events.length === 0) logs.delete(id)
      }
    },
    size: () => logs.size,
    async close() {},
  }
}

const RUNNING_TTL_SECONDS = 3600

/**
 * Redis: RPUSH to `chat:gen:<id>` and PUBLISH the same events on the same
 * name. One writer per generation and one connection keep the list and the
 * channel in the same order; a follower subscribes first and reads the list
 * second, and an event seen both ways is dropped by its number. One
 * subscriber connection per process serves every stream it follows.
 *
 * The appends of every reply this process writes go out together: each is
 * queued, and what was queued in one turn of the event loop is sent as one
 * pipeline (the runners flush on one shared clock, so a tick's appends meet
 * here). With 200 replies streaming that is one write to Redis per tick
 * instead of 200, each append's MULTI, EXPIRE and SET gone with it (bench:chat).
 */
type IoRedis = ReturnType<typeof redis.connection>['ioConnection']

export function redisLogStore(): LogStore {
  let subscriber: IoRedis | undefined
  const listeners = new Map<string, Set<(event: GenerationEvent) => void>>()
  const subscriptions = new Map<string, Promise<void>>()
  const keyOf = (id: string) => `chat:gen:${id}`
  const ownerKeyOf = (id: string) => `chat:gen:${id}:owner`

  const connection = () => {
    if (!subscriber) {
      const created: IoRedis = dedicatedRedis()
      subscriber = created
      created.on('error', (error: Error) =>
        logger.warn({ err: error }, 'chat stream subscriber: Redis error')
      )
      created.on('message', (channel: string, payload: string) => {
        const handlers = listeners.get(channel)
        if (!handlers) return
        const event = JSON.parse(payload) as GenerationEvent
        for (const handler of handlers) handler(event)
      })
    }
    return subscriber
  }

  return {
    append(id, events, options = {}) {
      const client = redis.connection().ioConnection
      const payloads = events.map((event) => JSON.stringify(event))
      const ttl = options.finished ? chatConfig.replaySeconds : RUNNING_TTL_SECONDS
      return pipelined(client, (pipeline) => {
        pipeline.rpush(keyOf(id), ...payloads)
        // keyPrefix does not apply to channels: name it with the prefixed key, so test runs stay apart.
        // One message per event, as before: a follower of another release still understands it.
        for (const payload of payloads) pipeline.publish(channelOf(client, id), payload)
        if (options.owner) {
          pipeline.set(ownerKeyOf(id), options.owner, 'EX', ttl)
          pipeline.expire(keyOf(id), ttl)
        } else if (options.finished) {
          pipeline.expire(ownerKeyOf(id), ttl)
          pipeline.expire(keyOf(id), ttl)
        }
      })
    },
    async read(id, afterSeq) {
      const raw = await redis.connection().ioConnection.lrange(keyOf(id), 0, -1)
      if (raw.length === 0) return null
      return raw
        .map((payload) => JSON.parse(payload) as GenerationEvent)
        .filter((event) => event.seq > afterSeq)
    },
    ownerOf(id) {
      return redis.connection().ioConnection.get(ownerKeyOf(id))
    },
    async listen(id, onEvent) {
      const channel = channelOf(redis.connection().ioConnection, id)
      let handlers = listeners.get(channel)
      if (!handlers) {
        handlers = new Set()
        listeners.set(channel, handlers)
      }
      const own = handlers
      own.add(onEvent)
      // Every listener waits for the channel's subscription, not only the first: one that
      // read the list before the subscription was active would miss what came between.
      const subscribed =
        subscriptions.get(channel) ??
        connection()
          .subscribe(channel)
          .then(() => undefined)
      subscriptions.set(channel, subscribed)
      await subscribed
      return () => {
        own.delete(onEvent)
        if (own.size === 0) {
          listeners.delete(channel)
          subscriptions.delete(channel)
          void subscriber?.unsubscribe(channel).catch(() => {})
        }
      }
    },
    async close() {
      const open = subscriber
      subscriber = undefined
      listeners.clear()
      subscriptions.clear()
      await open?.quit().catch(() => open.disconnect())
    },
  }

  function channelOf(client: IoRedis, id: string) {
    return `${client.options.keyPrefix ?? ''}${keyOf(id)}`
  }
}

type Pipeline = ReturnType<IoRedis['pipeline']>

/** A pipeline gathered over one turn of the event loop, and who waits on which of its commands. */
interface GatheredPipeline {
  pipeline: Pipeline
  waiters: Array<{ from: number; to: number; resolve: () => void; reject: (error: Error) => void }>
}

let gathering: GatheredPipeline | null = null

/**
 * Adds an append's commands to this turn's pipeline, sent once the turn's
 * I/O callbacks have run (setImmediate). Resolves when its own commands
 * succeeded; a command that failed fails its own append only, a lost
 * connection every append in the pipeline.
 */
function pipelined(client: IoRedis, add: (pipeline: Pipeline) => void): Promise<void> {
  if (!gathering) {
    const batch: GatheredPipeline = { pipeline: client.pipeline(), waiters: [] }
    gathering = batch
    setImmediate(() => {
      gathering = null
      batch.pipeline.exec().then(
        (results: Array<[Error | null, unknown]> | null) => {
          for (const waiter of batch.waiters) {
            const failed = results?.slice(waiter.from, waiter.to).find(([error]) => error)
            if (failed) waiter.reject(failed[0]!)
            else waiter.resolve()
          }
        },
        (error: Error) => {
          for (const waiter of batch.waiters) waiter.reject(error)
        }
      )
    })
  }
  const batch = gathering
  const from = batch.pipeline.length
  add(batch.pipeline)
  return new Promise((resolve, reject) =>
    batch.waiters.push({ from, to: batch.pipeline.length, resolve, reject })
  )
}

let store: LogStore | undefined

/** Closes the process's log store, if one was opened (at shutdown). */
export async function closeGenerationLog() {
  const open = store
  store = undefined
  await open?.close()
}

/** Redis when configured (shared by every process), this process's memory otherwise. */
export function generationLog(): LogStore {
  store ??= redisConfigured() ? redisLogStore() : memoryLogStore()
  return store
}

/**
 * The events after `afterSeq`, then live ones, in order and each once, until
 * the terminal one or until `signal` aborts. After `idleMs` without an event
 * it reads the log again (a live event may have been missed), and yields null
 * when there is still nothing, so the caller can look at the database (the
 * log may live in another process, or be gone) and decide whether to go on.
 */
export async function* follow(
  log: LogStore,
  id: string,
  afterSeq: number,
  signal: AbortSignal,
  idleMs = 2000
): AsyncGenerator<GenerationEvent | null> {
  const pending: GenerationEvent[] = []
  let wake: (() => void) | undefined
  const stop = await log.listen(id, (event) => {
    pending.push(event)
    wake?.()
  })
  const onAbort = () => wake?.()
  signal.addEventListener('abort', onAbort)
  try {
    let last = afterSeq
    pending.unshift(...((await log.read(id, afterSeq)) ?? []))
    while (!signal.aborted) {
      if (pending.length === 0) {
        const woken = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), idleMs)
          wake = () => {
            clearTimeout(timer)
            resolve(true)
          }
        })
        wake = undefined
        if (woken) continue
        // Quiet for a while: catch up from the log in case a live event was missed (a
        // subscriber reconnecting), then let the caller look at the database.
        pending.push(...((await log.read(id, last)) ?? []))
        if (pending.length === 0) yield null
        continue
      }
      // Past events come first, and anything heard live meanwhile may repeat them: numbers decide.
      pending.sort((a, b) => a.seq - b.seq)
      for (const event of pending.splice(0)) {
        if (event.seq <= last) continue
        last = event.seq
        yield event
        if (isTerminal(event)) return
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort)
    stop()
  }
}
