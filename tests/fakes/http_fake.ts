import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export type FakeHandler = (
  request: IncomingMessage,
  response: ServerResponse,
  body: string
) => void | Promise<void>

export interface HttpFake {
  url: string
  requests: Array<{
    method: string
    path: string
    body: string
    headers: Record<string, string | string[] | undefined>
  }>
  close(): Promise<void>
}

/** A loopback HTTP server for protocol-level fakes; records every request it gets. */
export async function startHttpFake(routes: Record<string, FakeHandler>): Promise<HttpFake> {
  const requests: HttpFake['requests'] = []
  const server = createServer(async (request, response) => {
    let body = ''
    for await (const chunk of request) body += chunk
    const path = (request.url ?? '/').split('?')[0]
    requests.push({ method: request.method ?? 'GET', path, body, headers: request.headers })
    const handler = routes[`${request.method} ${path}`]
    if (!handler) {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}')
      return
    }
    await handler(request, response, body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        // Keep-alive connections of the clients under test would hold close() open.
        server.closeAllConnections()
      }),
  }
}
