import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'

/**
 * The Node HTTP server under AdonisJS, with bounds on how long a client may
 * take to send its request. Node's default lets a body trickle in for 300 s,
 * which holds a connection (and a parser) per slow client; these bound only
 * the request's arrival, never a streamed response.
 */
export function createAtriumHttpServer(
  handler: (request: IncomingMessage, response: ServerResponse) => unknown
) {
  // Validated by start/env.ts; read raw because this module is imported before the
  // environment is (a bad value must still stop boot with start/env's one line).
  const requestSeconds = Number(process.env.HTTP_REQUEST_TIMEOUT_SECONDS) || 30
  return createServer(
    {
      requestTimeout: requestSeconds * 1000,
      headersTimeout: Math.min(10, requestSeconds) * 1000,
      // How often Node looks for requests past those bounds (default 30 s, longer than the bound).
      connectionsCheckingInterval: Math.min(5, requestSeconds) * 500,
    },
    handler
  )
}
