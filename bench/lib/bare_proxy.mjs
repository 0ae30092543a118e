// Bench peer: the least a forwarding proxy can do — node:http in, undici's pooled request out,
// the upstream's answer streamed back. No auth, no quotas, no accounting (plain JS, own process).
import { createServer } from 'node:http'
import { Agent, request } from 'undici'

const port = Number(process.env.PORT ?? 3415)
const upstream = process.env.UPSTREAM ?? 'http://127.0.0.1:3411'
const dispatcher = new Agent({ keepAliveTimeout: 30_000, connections: 256 })

createServer(async (incoming, outgoing) => {
  try {
    const answer = await request(`${upstream}${incoming.url}`, {
      method: incoming.method,
      headers: { 'content-type': incoming.headers['content-type'] ?? 'application/json' },
      body: incoming,
      dispatcher,
    })
    outgoing.writeHead(answer.statusCode, {
      'content-type': answer.headers['content-type'] ?? 'application/json',
    })
    for await (const part of answer.body) outgoing.write(part)
    outgoing.end()
  } catch (error) {
    outgoing.writeHead(502, { 'content-type': 'application/json' })
    outgoing.end(JSON.stringify({ error: { message: String(error) } }))
  }
}).listen(port, '127.0.0.1')
