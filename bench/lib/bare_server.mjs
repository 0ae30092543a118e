// Baseline: a bare node:http server (plain JS, no loader) answering the same JSON as GET /api/v1/system/ping.
import { createServer } from 'node:http'
import { randomUUID } from 'node:crypto'

const port = Number(process.env.PORT ?? 3401)
// BENCH_WORK_US: that many microseconds of CPU per request before answering, for the
// calibration row of bench:http (what a fixed per-request cost does to the ratio).
const workMs = Number(process.env.BENCH_WORK_US ?? 0) / 1000
// BENCH_SAME_HEADERS=1: also the headers Atrium's answer carries (a request id, the security
// headers), so the two answers are the same bytes and the client parses as much of each.
const sameHeaders = process.env.BENCH_SAME_HEADERS === '1'
createServer((_request, response) => {
  if (workMs > 0) {
    const until = performance.now() + workMs
    while (performance.now() < until);
  }
  const body = JSON.stringify({ pong: true, time: new Date().toISOString() })
  response.writeHead(200, {
    ...(sameHeaders
      ? {
          'x-request-id': randomUUID(),
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          'x-frame-options': 'DENY',
          'cross-origin-opener-policy': 'same-origin',
          'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
          'cache-control': 'no-store',
        }
      : {}),
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  })
  response.end(body)
}).listen(port, '127.0.0.1')
