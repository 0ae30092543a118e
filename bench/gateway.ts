/*
| Gateway overhead: the same non-streaming chat request (a) straight to a
| fake upstream that answers at once and (b) through Atrium's
| /v1/chat/completions with a real key, quota reservation and settlement,
| routing and usage accounting — same load, same run. Once with the
| PostgreSQL quota store and once with Redis (when REDIS_URL is set).
| Also the streaming time to first token, direct vs through Atrium.
|
|   npm run bench:gateway    (BENCH_DURATION=10 BENCH_CONNECTIONS=64 by default)
*/
import autocannon from 'autocannon'
import { startAtriumServer, rssMiB, spawnNode, stop, waitUntilOk } from './lib/processes.js'
import { printTable, writeResults } from './lib/report.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 10)
/** The second load: a fixed rate well below saturation, where added latency is Atrium's, not queueing. */
const FIXED_RATE = Number(process.env.BENCH_RATE ?? 200)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const WARMUP = 3
const UPSTREAM_PORT = 3411
const ATRIUM_PORT = 3412
const upstreamBase = `http://127.0.0.1:${UPSTREAM_PORT}`
const atriumBase = `http://127.0.0.1:${ATRIUM_PORT}`
const request = {
  model: 'chat-default',
  messages: [{ role: 'user', content: 'ping' }],
  max_tokens: 16,
}

interface Row {
  name: string
  requestsPerSecond: number
  p50: number
  p99: number
  errors: number
  non2xx: number
}

async function load(
  name: string,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  rate?: number
): Promise<Row> {
  const options = {
    url,
    method: 'POST' as const,
    // One connection for the fixed rate: several would send each tick's requests as a burst that queues.
    connections: rate ? 1 : CONNECTIONS,
    ...(rate ? { overallRate: rate } : {}),
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  }
  await autocannon({ ...options, duration: WARMUP })
  const result = await autocannon({ ...options, duration: DURATION })
  return {
    name,
    requestsPerSecond: Math.round(result.requests.average),
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  }
}

/** Median time to the first streamed data line over sequential requests. */
async function timeToFirstToken(url: string, headers: Record<string, string>, rounds = 200) {
  const samples: number[] = []
  for (let round = 0; round < rounds; round++) {
    const started = performance.now()
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ ...request, stream: true }),
    })
    const reader = response.body!.getReader()
    await reader.read()
    samples.push(performance.now() - started)
    for (let next = await reader.read(); !next.done; next = await reader.read()) {}
  }
  samples.sort((a, b) => a - b)
  return { p50: samples[Math.floor(rounds / 2)], p99: samples[Math.floor(rounds * 0.99)] }
}

async function json(response: Response) {
  if (!response.ok)
    throw new Error(`${response.url} answered ${response.status}: ${await response.text()}`)
  // Bench setup answers are read loosely; their shapes are tested elsewhere.
  return response.json() as Promise<Record<string, any>>
}

async function setUpTenant() {
  const post = (path: string, body: unknown, token?: string) =>
    fetch(`${atriumBase}${path}`, {
      method: path.endsWith('/limits') ? 'PUT' : 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    }).then(json)
  const session = await post('/api/v1/auth/register', {
    email: `bench.${Date.now()}@example.com`,
    password: 'benchmark password 1',
    name: 'Bench',
    tenantName: `Bench ${Date.now()}`,
  })
  const token = session.tokens.accessToken
  const provider = await post(
    '/api/v1/gateway/providers',
    { name: 'fake', kind: 'openai-compatible', baseUrl: `${upstreamBase}/v1`, maxRetries: 0 },
    token
  )
  await post(
    '/api/v1/gateway/models',
    {
      alias: 'chat-default',
      inputPricePerMTok: 100,
      outputPricePerMTok: 300,
      deployments: [{ providerId: provider.id, upstreamModel: 'bench-model' }],
    },
    token
  )
  // Limits high enough never to refuse, so every request pays for the reservation and settlement.
  const limits = {
    requestsPerMinute: 1e9,
    tokensPerMinute: 1e9,
    tokensPerDay: 1e9,
    monthlyBudget: 1e9,
  }
  await post('/api/v1/gateway/limits', limits, token)
  const key = await post('/api/v1/gateway/keys', { name: 'bench', limits }, token)
  return { authorization: `Bearer ${key.secret}` }
}

const upstream = spawnNode(['bench/lib/fake_llm.mjs'], { PORT: String(UPSTREAM_PORT) })
const stores: Array<{ store: string; env: Record<string, string | undefined> }> = [
  { store: 'postgres', env: { REDIS_URL: undefined } },
]
if (process.env.REDIS_URL)
  stores.push({ store: 'redis', env: { REDIS_URL: process.env.REDIS_URL } })
else console.log('redis store: skipped (REDIS_URL is not set)')

const results: Array<Record<string, unknown>> = []
try {
  await new Promise((resolve) => setTimeout(resolve, 300))
  const direct = await load(
    'direct to the fake upstream',
    `${upstreamBase}/v1/chat/completions`,
    {},
    request
  )
  const directTtft = await timeToFirstToken(`${upstreamBase}/v1/chat/completions`, {})
  const directAtRate = await load(
    'direct to the fake upstream',
    `${upstreamBase}/v1/chat/completions`,
    {},
    request,
    FIXED_RATE
  )
  const rows: Row[] = [direct]
  const rateRows: Row[] = [directAtRate]
  const ttft: Array<[string, { p50: number; p99: number }]> = [['direct', directTtft]]
  for (const { store, env } of stores) {
    const server = startAtriumServer(ATRIUM_PORT, { ATRIUM_ROLE: 'web', ...env })
    try {
      await waitUntilOk(`${atriumBase}/health/ready`, performance.now())
      const headers = await setUpTenant()
      const row = await load(
        `through Atrium (${store} store)`,
        `${atriumBase}/v1/chat/completions`,
        headers,
        request
      )
      const rss = await rssMiB(server.pid!)
      const atRate = await load(
        `through Atrium (${store} store)`,
        `${atriumBase}/v1/chat/completions`,
        headers,
        request,
        FIXED_RATE
      )
      rows.push(row)
      rateRows.push(atRate)
      ttft.push([
        `through Atrium (${store})`,
        await timeToFirstToken(`${atriumBase}/v1/chat/completions`, headers),
      ])
      results.push({
        store,
        ...row,
        addedP50: row.p50 - direct.p50,
        addedP99: row.p99 - direct.p99,
        throughputVsDirect:
          Math.round((row.requestsPerSecond / direct.requestsPerSecond) * 100) / 100,
        rssAfterLoadMiB: rss,
        atFixedRate: {
          ...atRate,
          addedP50: atRate.p50 - directAtRate.p50,
          addedP99: atRate.p99 - directAtRate.p99,
        },
      })
    } finally {
      await stop(server, 'SIGINT')
    }
  }

  console.log(
    `Load: ${CONNECTIONS} connections, ${DURATION}s per row (after ${WARMUP}s warm-up), autocannon, Node ${process.version}`
  )
  printTable(
    [
      'path',
      'req/s',
      'p50 ms',
      'p99 ms',
      'added p50',
      'added p99',
      'vs direct',
      'RSS MiB',
      'errors',
      'non-2xx',
    ],
    rows.map((row) => {
      const extra = results.find((entry) => entry.name === row.name)
      return [
        row.name,
        row.requestsPerSecond,
        row.p50,
        row.p99,
        extra ? String(extra.addedP50) : '-',
        extra ? String(extra.addedP99) : '-',
        extra ? `x${extra.throughputVsDirect}` : 'x1',
        extra ? String(extra.rssAfterLoadMiB) : '-',
        row.errors,
        row.non2xx,
      ]
    })
  )
  console.log(`\nAt a fixed ${FIXED_RATE} req/s (one connection), below saturation:`)
  printTable(
    ['path', 'req/s', 'p50 ms', 'p99 ms', 'added p50', 'added p99', 'non-2xx'],
    rateRows.map((row) => [
      row.name,
      row.requestsPerSecond,
      row.p50,
      row.p99,
      row === directAtRate ? '-' : String(row.p50 - directAtRate.p50),
      row === directAtRate ? '-' : String(row.p99 - directAtRate.p99),
      row.non2xx,
    ])
  )
  console.log('\nStreaming time to first chunk, 200 sequential requests:')
  printTable(
    ['path', 'p50 ms', 'p99 ms', 'added p50'],
    ttft.map(([name, value]) => [
      name,
      value.p50.toFixed(2),
      value.p99.toFixed(2),
      (value.p50 - directTtft.p50).toFixed(2),
    ])
  )
  const file = await writeResults('gateway', {
    date: new Date().toISOString(),
    node: process.version,
    load: {
      tool: 'autocannon',
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      warmupSeconds: WARMUP,
    },
    direct,
    directAtFixedRate: directAtRate,
    fixedRate: FIXED_RATE,
    atrium: results,
    timeToFirstChunk: Object.fromEntries(ttft),
  })
  console.log(`wrote ${file}`)
} finally {
  await stop(upstream)
}
