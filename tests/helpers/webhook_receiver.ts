import type { ApiClient } from '@japa/api-client'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createHmac } from 'node:crypto'

export interface Received {
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** A webhook receiver on loopback that answers with the status the test chooses. */
export async function startReceiver() {
  const received: Received[] = []
  let status = 200
  const server: Server = createServer(async (request, response) => {
    let body = ''
    for await (const chunk of request) body += chunk
    received.push({ headers: request.headers, body })
    response.writeHead(status).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/atrium`,
    received,
    answer(code: number) {
      status = code
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/**
 * What a receiver does (docs/orders.md): recompute the HMAC over "<t>.<raw
 * body>" and accept when any v1 matches (two while a rotated secret's grace
 * period runs), refusing stale timestamps.
 */
export function verifies(secret: string, header: string, body: string) {
  const parts = header.split(',').map((part) => part.split('='))
  const timestamp = parts.find(([name]) => name === 't')?.[1]
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
  const fresh = Math.abs(Date.now() / 1000 - Number(timestamp)) < 300
  return fresh && parts.some(([name, value]) => name === 'v1' && value === expected)
}

/** Subscribes `url` to `eventTypes` as `who` (an admin of their tenant); the webhook with its secret. */
export async function createWebhook(
  client: ApiClient,
  who: { tokens: { accessToken: string } },
  url: string,
  eventTypes: string[]
) {
  const created = await client
    .post('/api/v1/webhooks')
    .bearerToken(who.tokens.accessToken)
    .json({ url, eventTypes })
  created.assertStatus(201)
  return created.body() as { id: string; secret: string }
}
