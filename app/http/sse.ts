/*
| Server-sent events, both ways (DESIGN.md §7): one writer for every stream
| the API serves, and one reader for the streams upstreams send us.
*/
import { PassThrough } from 'node:stream'
import type { HttpContext } from '@adonisjs/core/http'
import { createParser, type EventSourceMessage } from 'eventsource-parser'

export const HEARTBEAT_MS = 15_000

export interface SseEvent {
  /** Set on every event; a client resuming sends the last one it saw as Last-Event-ID. */
  id: string
  event?: string
  data: string
}

/** One event in wire format: multi-line data becomes several `data:` lines, so it cannot end the event early. */
export function formatEvent({ id, event, data }: SseEvent) {
  const lines = [`id: ${oneLine(id)}`]
  if (event) lines.push(`event: ${oneLine(event)}`)
  for (const line of data.split(/\r\n|\r|\n/)) lines.push(`data: ${line}`)
  return `${lines.join('\n')}\n\n`
}

function oneLine(value: string) {
  return value.replace(/[\r\n]/g, ' ')
}

export interface SseStream {
  /** The id the client last saw (Last-Event-ID header), to resume after it; null on a first connect. */
  readonly lastEventId: string | null
  /** Aborts when the client goes away: stop producing (and cancel upstream work that only feeds it). */
  readonly signal: AbortSignal
  /**
   * Sends one event; `data` that is not a string is sent as JSON. Without an
   * id the stream numbers its events. Waits while the client's buffer is
   * full (backpressure), so a slow reader slows the producer, not memory.
   */
  send(data: unknown, options?: { event?: string; id?: string }): Promise<void>
  /** A comment line (ignored by clients). */
  comment(text: string): void
  /** Ends the stream (idempotent). */
  close(): void
}

/**
 * Answers the request with an event stream: headers for proxies (no
 * buffering, no caching), a heartbeat comment every 15 s so idle connections
 * survive, and an abort signal when the client disconnects.
 */
export function sse(ctx: HttpContext, options: { heartbeatMs?: number } = {}): SseStream {
  const out = new PassThrough()
  const aborted = new AbortController()
  const lastEventId = ctx.request.header('last-event-id')?.slice(0, 200) ?? null
  let counter = Number.isSafeInteger(Number(lastEventId)) ? Number(lastEventId) : 0
  let closed = false

  ctx.response.header('content-type', 'text/event-stream; charset=utf-8')
  // no-store: a stream holds a caller's data (a chat reply); no-transform: no proxy may compress or rebuffer it.
  ctx.response.header('cache-control', 'no-store, no-transform')
  ctx.response.header('x-accel-buffering', 'no')
  ctx.response.stream(out)

  const heartbeat = setInterval(
    () => stream.comment('heartbeat'),
    options.heartbeatMs ?? HEARTBEAT_MS
  )
  heartbeat.unref()

  const close = () => {
    if (closed) return
    closed = true
    clearInterval(heartbeat)
    out.end()
  }
  // 'close' comes after a complete answer too; only an unfinished one means the client left.
  const response = ctx.response.response
  response.once('close', () => {
    if (!response.writableFinished) aborted.abort()
    close()
  })

  const stream: SseStream = {
    lastEventId,
    signal: aborted.signal,
    async send(data, eventOptions = {}) {
      if (closed) return
      const id = eventOptions.id ?? String(++counter)
      const text = typeof data === 'string' ? data : JSON.stringify(data)
      if (!out.write(formatEvent({ id, event: eventOptions.event, data: text }))) {
        await new Promise<void>((resolve) => {
          const done = () => {
            out.off('drain', done)
            aborted.signal.removeEventListener('abort', done)
            resolve()
          }
          out.once('drain', done)
          aborted.signal.addEventListener('abort', done)
        })
      }
    },
    comment(text) {
      if (!closed) out.write(`: ${oneLine(text)}\n\n`)
    },
    close,
  }
  return stream
}

/**
 * Reads an upstream's event stream: bytes are decoded as one UTF-8 stream (a
 * character split across chunks stays whole), and events are split the way
 * the SSE spec says (\n, \r\n or \r line ends, multi-line data, comments).
 */
export async function* readEvents(
  body: AsyncIterable<Uint8Array | string>
): AsyncGenerator<EventSourceMessage> {
  const queue: EventSourceMessage[] = []
  const parser = createParser({ onEvent: (event) => queue.push(event) })
  const decoder = new TextDecoder('utf-8')
  for await (const chunk of body) {
    parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }))
    while (queue.length) yield queue.shift()!
  }
  parser.feed(decoder.decode())
  // A last event without its blank line is incomplete: the spec drops it, and so do we.
  while (queue.length) yield queue.shift()!
}
