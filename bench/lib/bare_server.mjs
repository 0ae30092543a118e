// Baseline: a bare node:http server (plain JS, no loader) answering the same JSON as GET /api/v1/system/ping.
import { createServer } from 'node:http'

const port = Number(process.env.PORT ?? 3401)
createServer((_request, response) => {
  const body = JSON.stringify({ pong: true, time: new Date().toISOString() })
  response.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  })
  response.end(body)
}).listen(port, '127.0.0.1')
