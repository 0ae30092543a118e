import { AsyncLocalStorage } from 'node:async_hooks'
import net from 'node:net'
import { HttpContext } from '@adonisjs/core/http'

/*
| Node hands the current async context (every AsyncLocalStorage's store;
| AdonisJS keeps the request's HttpContext in one) to each resource created
| while it is current, and runs the resource's callbacks in it. A pooled
| connection is created by whichever request first needs it, then outlives
| that request and serves thousands of others. Opened inside the request, its
| socket keeps that request's whole HttpContext — body, parsed input, user —
| in memory for as long as the connection lives, and every event of the
| socket runs with that request as "current" (`HttpContext.get()` in a socket
| callback would name a stranger's request). So pools open their connections
| in the context the process booted with: no request's.
*/

if (HttpContext.get()) {
  // The snapshot below must be the boot context: config/database.ts imports this module, at boot.
  throw new Error('app/platform/outside_requests must be imported at boot, not during a request')
}

const bootContext = AsyncLocalStorage.snapshot()

/** Runs `fn` in the context the process booted with, outside any request's. */
export function outsideRequests<T>(fn: () => T): T {
  return bootContext(fn)
}

/**
 * A socket that connects outside any request's context: for pg's `stream`
 * option (config/database.ts). The TCP handle is made by `connect`, and the
 * handle is what keeps the context.
 */
export function socketOutsideRequests(): net.Socket {
  const socket = new net.Socket()
  const connect = socket.connect.bind(socket) as (...args: unknown[]) => net.Socket
  // net.Socket's connect has several overloads; every one is passed through unchanged.
  socket.connect = ((...args: unknown[]) =>
    outsideRequests(() => connect(...args))) as net.Socket['connect']
  return socket
}
