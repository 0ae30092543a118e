/*
| Soak: one Atrium process (built, with its worker) under steady mixed load —
| logins, authenticated reads, orders through the saga, /v1 chat through the
| gateway, and chat module replies (a conversation made, a reply streamed to
| `done` and its events replayed by Last-Event-ID, the conversation deleted) —
| for BENCH_SOAK_SECONDS (600), with resident memory, heap and
| event-loop delay sampled every 10 s. A leak shows as a slope: the report
| fits a line to the second half (after warm-up and the first GCs) and says
| how many MiB a minute it grows.
|
|   npm run build && BENCH_BUILD=1 npm run bench:soak
|   (REDIS_URL for the Redis quota store and BullMQ, as a deployment would have)
*/
import { randomUUID } from 'node:crypto'
import autocannon from 'autocannon'
import {
  benchSession,
  rssMiB,
  spawnNode,
  startAtriumServer,
  stop,
  waitUntilOk,
} from './lib/processes.js'
import { printTable, writeResults } from './lib/report.js'

const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 600)
const SAMPLE_EVERY_MS = 10_000
const UPSTREAM_PORT = 3421
const PORT = 3422
const base = `http://127.0.0.1:${PORT}`
const upstreamBase = `http://127.0.0.1:${UPSTREAM_PORT}`

/** Requests per second of each stream: steady, well below saturation — a soak is about time. */
const RATES = { reads: 200, chat: 100, orders: 20 }
/** Chat module replies started a second, each a whole conversation's life (four requests). */
const CHAT_REPLIES_PER_SECOND = 5
/** One login every 2.5 s: 24 a minute, under the 30 a minute one address may try. */
const LOGIN_EVERY_MS = 2500

async function json(response: Response) {
  if (!response.ok) {
    throw new Error(`${response.url} answered ${response.status}: ${await response.text()}`)
  }
  // Bench setup answers are read loosely; their shapes are tested elsewhere.
  return response.json() as Promise<Record<string, any>>
}

async function setUp() {
  const account = { email: 'soak.bench@example.com', tenantName: 'Soak Co' }
  const session = await benchSession(base, account)
  const token = session.tokens.accessToken
  const send = (method: string, path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'authorization': `Bearer ${token}` },
      body: JSON.stringify(body),
    }).then(json)
  const run = Date.now().toString(36)
  const provider = await send('POST', '/api/v1/gateway/providers', {
    name: `fake ${run}`,
    kind: 'openai-compatible',
    baseUrl: `${upstreamBase}/v1`,
    maxRetries: 0,
  })
  const alias = `soak-${run}`
  await send('POST', '/api/v1/gateway/models', {
    alias,
    inputPricePerMTok: 100,
    outputPricePerMTok: 300,
    deployments: [{ providerId: provider.id, upstreamModel: 'bench-model' }],
  })
  const limits = { requestsPerMinute: 1e9, tokensPerMinute: 1e9, tokensPerDay: 1e9 }
  const key = await send('POST', '/api/v1/gateway/keys', { name: `soak ${run}`, limits })
  const sku = `SOAK-${run}`
  await send('POST', '/api/v1/inventory/items', {
    sku,
    name: 'Soak item',
    onHand: 1_000_000_000,
    priceMinor: 100,
    currency: 'EUR',
  })
  return { account, token, key: key.secret as string, alias, sku }
}

interface Tally {
  requests: number
  non2xx: number
  errors: number
  latencies: number[]
}
const tally = (): Tally => ({ requests: 0, non2xx: 0, errors: 0, latencies: [] })

/**
 * One chat module reply from start to end: a new conversation, a message
 * sent with Accept: text/event-stream and read to its `done`, the stream read
 * again from the first event on (Last-Event-ID, as a reconnecting client
 * does), and the conversation deleted — so generations, their logs, streams,
 * titles and cascades all come and go for the whole soak.
 */
async function chatReply(setup: Awaited<ReturnType<typeof setUp>>, into: Tally) {
  const sent = performance.now()
  const authorization = `Bearer ${setup.token}`
  const step = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${base}${path}`, {
      ...init,
      headers: { authorization, 'content-type': 'application/json', ...init.headers },
    })
    const body = await response.text()
    if (!response.ok) throw Object.assign(new Error(`${path}: ${response.status}`), { http: true })
    return body
  }
  try {
    const conversation = JSON.parse(
      await step('/api/v1/chat/conversations', { method: 'POST', body: '{}' })
    ) as { id: string }
    const stream = await step(`/api/v1/chat/conversations/${conversation.id}/messages`, {
      method: 'POST',
      headers: { accept: 'text/event-stream' },
      body: JSON.stringify({ content: 'ping', model: setup.alias, clientRequestId: randomUUID() }),
    })
    const generationId = /"generationId":"([^"]+)"/.exec(stream)?.[1]
    if (!stream.includes('event: done') || !generationId) throw new Error('no done event')
    const replayed = await step(`/api/v1/chat/generations/${generationId}/stream`, {
      headers: { 'last-event-id': '1' },
    })
    if (!replayed.includes('event: done')) throw new Error('replay without done')
    await step(`/api/v1/chat/conversations/${conversation.id}`, { method: 'DELETE' })
    into.requests++
  } catch (error) {
    if ((error as { http?: boolean }).http) into.non2xx++
    else into.errors++
  }
  into.latencies.push(performance.now() - sent)
}

interface Sample {
  atSeconds: number
  rssMiB: number
  heapUsedMiB: number
  eventLoopP99Ms: number
}

/** Heap and event-loop delay from the process's own /metrics (loopback may read it). */
async function metricsOf() {
  const text = await fetch(`${base}/metrics`).then((response) => response.text())
  const value = (name: string) => {
    const line = text
      .split('\n')
      .find((entry) => entry.startsWith(`${name}{`) || entry.startsWith(`${name} `))
    return line ? Number(line.split(' ').at(-1)) : Number.NaN
  }
  return {
    heapUsedMiB: Math.round(value('nodejs_heap_size_used_bytes') / 1048576),
    eventLoopP99Ms: Math.round(value('nodejs_eventloop_lag_p99_seconds') * 10000) / 10,
  }
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>) {
  const n = points.length
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n
  const numerator = points.reduce((sum, [x, y]) => sum + (x - meanX) * (y - meanY), 0)
  const denominator = points.reduce((sum, [x]) => sum + (x - meanX) ** 2, 0)
  return denominator ? numerator / denominator : 0
}

const upstream = spawnNode(['bench/lib/fake_llm.mjs'], { PORT: String(UPSTREAM_PORT) })
const server = startAtriumServer(PORT, {
  ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : { REDIS_URL: undefined }),
})

try {
  await waitUntilOk(`${base}/health/ready`, performance.now())
  const setup = await setUp()
  const common = { duration: SECONDS, connections: 4 }
  const streams = {
    reads: autocannon({
      ...common,
      url: `${base}/api/v1/auth/me`,
      overallRate: RATES.reads,
      headers: { authorization: `Bearer ${setup.token}` },
    }),
    chat: autocannon({
      ...common,
      url: `${base}/v1/chat/completions`,
      method: 'POST',
      overallRate: RATES.chat,
      headers: { 'authorization': `Bearer ${setup.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: setup.alias,
        messages: [{ role: 'user', content: 'ping' }],
        max_tokens: 16,
      }),
    }),
    orders: autocannon({
      ...common,
      connections: 2,
      url: `${base}/api/v1/orders`,
      method: 'POST',
      overallRate: RATES.orders,
      requests: [
        {
          // Every order is a new one: a fresh Idempotency-Key per request.
          setupRequest: (request) => ({
            ...request,
            headers: {
              'authorization': `Bearer ${setup.token}`,
              'content-type': 'application/json',
              'idempotency-key': randomUUID(),
            },
            body: JSON.stringify({
              lines: [{ sku: setup.sku, quantity: 1 }],
              customerEmail: 'soak@example.com',
            }),
          }),
        },
      ],
    }),
  }
  const chatReplies = tally()
  const replies: Array<Promise<void>> = []
  const soakEnds = performance.now() + SECONDS * 1000
  const chatTimer = setInterval(() => {
    if (performance.now() < soakEnds) replies.push(chatReply(setup, chatReplies))
  }, 1000 / CHAT_REPLIES_PER_SECOND)
  const logins = tally()
  const loginTimer = setInterval(async () => {
    const sent = performance.now()
    try {
      const response = await fetch(`${base}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: setup.account.email, password: 'benchmark password 1' }),
      })
      await response.arrayBuffer()
      logins.requests++
      if (!response.ok) logins.non2xx++
    } catch {
      logins.errors++
    }
    logins.latencies.push(performance.now() - sent)
  }, LOGIN_EVERY_MS)

  const samples: Sample[] = []
  const started = performance.now()
  const sampler = setInterval(async () => {
    const [rss, metrics] = await Promise.all([rssMiB(server.pid!), metricsOf()])
    samples.push({
      atSeconds: Math.round((performance.now() - started) / 1000),
      rssMiB: rss,
      ...metrics,
    })
  }, SAMPLE_EVERY_MS)
  const finished = await Promise.all(Object.values(streams))
  clearInterval(chatTimer)
  await Promise.all(replies)
  clearInterval(sampler)
  clearInterval(loginTimer)

  const secondHalf = samples.filter((sample) => sample.atSeconds >= SECONDS / 2)
  const rssSlope = slope(secondHalf.map((sample) => [sample.atSeconds / 60, sample.rssMiB]))
  const heapSlope = slope(secondHalf.map((sample) => [sample.atSeconds / 60, sample.heapUsedMiB]))
  const loads = Object.keys(streams).map((name, index) => ({
    name,
    targetRate: RATES[name as keyof typeof RATES],
    requests: finished[index].requests.total,
    non2xx: finished[index].non2xx,
    errors: finished[index].errors,
    p99: finished[index].latency.p99,
  }))
  for (const [name, targetRate, measured] of [
    ['chat replies (4 requests each)', CHAT_REPLIES_PER_SECOND, chatReplies],
    ['logins', 1000 / LOGIN_EVERY_MS, logins],
  ] as const) {
    measured.latencies.sort((a, b) => a - b)
    loads.push({
      name,
      targetRate,
      requests: measured.requests,
      non2xx: measured.non2xx,
      errors: measured.errors,
      p99: Math.round(measured.latencies[Math.floor(measured.latencies.length * 0.99)] ?? 0),
    })
  }

  console.log(
    `Soak: ${SECONDS}s, one process (web + worker), samples every ${SAMPLE_EVERY_MS / 1000}s`
  )
  printTable(
    ['stream', 'target req/s', 'requests', 'p99 ms', 'non-2xx', 'errors'],
    loads.map((load) => [
      load.name,
      load.targetRate,
      load.requests,
      load.p99,
      load.non2xx,
      load.errors,
    ])
  )
  console.log('')
  printTable(
    ['s', 'RSS MiB', 'heap MiB', 'event loop p99 ms'],
    samples
      .filter((_, index) => index % 6 === 5 || index === samples.length - 1)
      .map((sample) => [sample.atSeconds, sample.rssMiB, sample.heapUsedMiB, sample.eventLoopP99Ms])
  )
  console.log(
    `\nSecond half: RSS ${rssSlope.toFixed(2)} MiB/min, heap ${heapSlope.toFixed(2)} MiB/min; RSS at the end ${samples.at(-1)?.rssMiB} MiB, max ${Math.max(...samples.map((sample) => sample.rssMiB))} MiB`
  )
  const file = await writeResults('soak', {
    date: new Date().toISOString(),
    node: process.version,
    seconds: SECONDS,
    redis: Boolean(process.env.REDIS_URL),
    loads,
    samples,
    secondHalfSlopeMiBPerMinute: { rss: rssSlope, heap: heapSlope },
    rssEndMiB: samples.at(-1)?.rssMiB,
    rssMaxMiB: Math.max(...samples.map((sample) => sample.rssMiB)),
    eventLoopP99MaxMs: Math.max(...samples.map((sample) => sample.eventLoopP99Ms)),
  })
  console.log(`wrote ${file}`)
} finally {
  await stop(server, 'SIGINT')
  await stop(upstream)
}
