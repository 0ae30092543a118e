import type { ApiClient } from '@japa/api-client'
import { readEvents } from '#app/http/sse'
import { gatewayBase, gatewayTenant } from '#tests/helpers/gateway'

export interface StreamedEvent {
  id: string
  event: string
  data: Record<string, any>
}

/** A tenant whose gateway answers chat from `upstreamUrl` (alias chat-default), and its owner. */
export async function chatTenant(client: ApiClient, upstreamUrl: string) {
  const { owner } = await gatewayTenant(client, { url: upstreamUrl })
  return owner
}

/**
 * Reads a generation's event stream over real HTTP. `stopWhen` hangs up as
 * soon as it says so (a client going away mid-stream); otherwise reads to the end.
 */
export async function readGeneration(
  token: string,
  generationId: string,
  options: {
    lastEventId?: string
    stopWhen?: (events: StreamedEvent[]) => boolean
    /** Another server process's address; default the test server. */
    base?: string
  } = {}
) {
  const controller = new AbortController()
  const base = options.base ?? gatewayBase()
  const response = await fetch(`${base}/api/v1/chat/generations/${generationId}/stream`, {
    headers: {
      authorization: `Bearer ${token}`,
      ...(options.lastEventId ? { 'last-event-id': options.lastEventId } : {}),
    },
    signal: controller.signal,
  })
  return collect(response, controller, options.stopWhen)
}

export async function collect(
  response: Response,
  controller: AbortController,
  stopWhen?: (events: StreamedEvent[]) => boolean
) {
  const events: StreamedEvent[] = []
  if (!response.ok) throw new Error(`stream: ${response.status} ${await response.text()}`)
  try {
    for await (const message of readEvents(response.body!)) {
      events.push({ id: message.id!, event: message.event!, data: JSON.parse(message.data) })
      if (stopWhen?.(events)) {
        controller.abort()
        break
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error
  }
  return events
}

export const textOf = (events: StreamedEvent[]) =>
  events
    .filter((event) => event.event === 'delta')
    .map((event) => event.data.text)
    .join('')
