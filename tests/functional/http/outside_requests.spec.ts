import { test } from '@japa/runner'
import { AsyncLocalStorage } from 'node:async_hooks'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import { FIXTURE_PREFIX, outboundCallers } from '#tests/fixtures/routes'
import { socketOutsideRequests } from '#app/platform/outside_requests'
import { collectedWithin } from '#tests/helpers/garbage'
import db from '@adonisjs/lucid/services/db'
import redis from '@adonisjs/redis/services/main'
import { dedicatedRedis } from '#app/platform/shared_redis'

/** An upstream that answers nobody until `count` requests are waiting: so each came on its own connection. */
async function upstreamHolding(count: number) {
  const waiting: ServerResponse[] = []
  const server = createServer((_request: IncomingMessage, response: ServerResponse) => {
    waiting.push(response)
    if (waiting.length === count) for (const held of waiting.splice(0)) held.end('pong')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return { server, url: `http://127.0.0.1:${port}/`, connections: () => server.connections }
}

test.group('Pooled connections are opened outside the request that needed them', () => {
  test('a finished request is not kept alive by the upstream connection it opened', async ({
    client,
    assert,
  }) => {
    const upstream = await upstreamHolding(6)
    try {
      outboundCallers.length = 0
      const answers = await Promise.all(
        Array.from({ length: 6 }, () =>
          client
            .get(`${FIXTURE_PREFIX}/outbound/call`)
            .qs({ url: upstream.url })
            // The server's own keep-alive timer holds a connection's last request until the next
            // one; closing it leaves only the upstream pool as something that could.
            .header('connection', 'close')
        )
      )
      for (const answer of answers) {
        answer.assertStatus(200)
        assert.deepEqual(answer.body(), { upstream: 'pong' })
      }
      // Six pooled connections stay open to the upstream (keep-alive) after the requests.
      const open = await new Promise<number>((resolve, reject) =>
        upstream.server.getConnections((error, count) => (error ? reject(error) : resolve(count)))
      )
      assert.equal(open, 6)
      assert.lengthOf(outboundCallers, 6)
      const collected = []
      for (const caller of outboundCallers) collected.push(await collectedWithin(caller))
      assert.deepEqual(collected, Array(6).fill(true), 'no caller is kept by the pool')
    } finally {
      upstream.server.closeAllConnections()
      await new Promise((resolve) => upstream.server.close(resolve))
    }
  })

  test('a database socket opened inside a request runs its events outside it', async ({
    assert,
  }) => {
    const requestContext = new AsyncLocalStorage<{ request: string }>()
    const listener = net.createServer((socket) => socket.end())
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    const { port } = listener.address() as net.AddressInfo
    const seenOnConnect = (socket: net.Socket) =>
      requestContext.run({ request: 'A' }, () => {
        return new Promise<unknown>((resolve, reject) => {
          socket.once('error', reject)
          socket.connect(port, '127.0.0.1', () => {
            resolve(requestContext.getStore())
            socket.destroy()
          })
        })
      })
    try {
      // A plain socket carries request A into its events: what pg's own socket did.
      assert.deepEqual(await seenOnConnect(new net.Socket()), { request: 'A' })
      assert.isUndefined(await seenOnConnect(socketOutsideRequests()))
      // And it is the socket pg opens the pool's connections with.
      const connection = db.manager.get('postgres')?.config.connection as { stream?: unknown }
      assert.strictEqual(connection.stream, socketOutsideRequests)
    } finally {
      await new Promise((resolve) => listener.close(resolve))
    }
  })

  test('Redis: the shared connection is open from boot; a subscriber opens outside the request', async ({
    assert,
  }) => {
    // start/kernel.ts opens it before the first request, which would otherwise open it.
    assert.property(redis.activeConnections, 'main')
    const requestContext = new AsyncLocalStorage<{ request: string }>()
    const seenOnReply = async (open: () => ReturnType<typeof dedicatedRedis>) => {
      const client = requestContext.run({ request: 'A' }, open)
      try {
        await client.ping()
        const seen = new Promise<unknown>((resolve) =>
          client.stream.once('data', () => resolve(requestContext.getStore()))
        )
        await requestContext.run({ request: 'B' }, () => client.ping())
        return await seen
      } finally {
        client.disconnect()
      }
    }
    // Duplicated inside request A, a subscriber ran every reply as A's, even B's.
    assert.deepEqual(await seenOnReply(() => redis.connection().ioConnection.duplicate()), {
      request: 'A',
    })
    assert.isUndefined(await seenOnReply(dedicatedRedis))
  })
})
