// Baseline: a bare node:http server (plain JS, no loader) answering the same JSON as GET /api/v1/system/ping.
import { createServer } from 'node:http'

const port = Number(process.env.PORT ?? 3401)
// BENCH_WORK_US: that many microseconds of CPU per request before answering, for the
// calibration row of bench:http (what a fixed per-request cost does to the ratio).
const workMs = Number(process.env.BENCH_WORK_US ?? 0) / 1000
createServer((_request, response) => {
  if (workMs > 0) {
    const until = performance.now() + workMs
    while (performance.now() < until);
  }
  const body = JSON.stringify({ pong: true, time: new Date().toISOString() })
  response.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  })
  response.end(body)
}).listen(port, '127.0.0.1')
