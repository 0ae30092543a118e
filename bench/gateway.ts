/*
| Gateway overhead: the same non-streaming chat request (a) straight to a
| fake upstream that answers at once, (b) through a bare node:http + undici
| forwarding proxy (the floor for any proxy), (c) through Portkey's
| open-source gateway (a peer that authenticates nobody and keeps no quotas)
| and (d) through Atrium's /v1/chat/completions with a real key, 8 limited
| counters reserved and settled, routing and usage accounting — same
| upstream, same load, in interleaved rounds while each Atrium store runs
| (PostgreSQL, and Redis when REDIS_URL is set), so drift on this shared
| machine hits every row alike. Also a fixed rate below saturation, paced
| (bench/lib/paced_load.ts says why not autocannon's rate), in interleaved
| rounds beside the direct and bare-proxy paths, with the CPU each answering
| process spent a request there (from /proc), and the streaming time to
| first token.
|
| Every server is measured warm: each first carries BENCH_FIRST_WARMUP (15) s
| of full load, unmeasured — the peers at the start, each Atrium server once
| started — and then 3 s more before each row. A Node server's JIT takes
| that long to settle under this load (Portkey's throughput rises ~65% over
| its first 10 s, Atrium's 25–45% over its first 15), and a deployed gateway
| runs for days; before, Portkey came to its rounds warmed by the rows that
| go first while Atrium's first round began 3 s after its start. What a cold
| Atrium does is its own row: its first BENCH_DURATION seconds under load.
|
|   npm run bench:gateway    (BENCH_DURATION=8 BENCH_ROUNDS=2 BENCH_CONNECTIONS=64, paced:
|                             BENCH_RATE=200 BENCH_RATE_SECONDS=10 BENCH_RATE_ROUNDS=4 by default)
*/
import autocannon from 'autocannon'
import { cpuMs, startAtriumServer, rssMiB, spawnNode, stop, waitUntilOk } from './lib/processes.js'
import { printTable, writeResults } from './lib/report.js'
import { gatewayBenchKey } from './lib/gateway_key.js'
import { pacedLoad, pacedRow, type PacedSamples } from './lib/paced_load.js'

const DURATION = Number(process.env.BENCH_DURATION ?? 8)
/** Each row is measured this many times per Atrium store, interleaved with the others. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
/** The second load: a fixed rate well below saturation, where added latency is Atrium's, not queueing. */
const FIXED_RATE = Number(process.env.BENCH_RATE ?? 200)
/**
 * Each path's seconds at the fixed rate per round, and the rounds (interleaved with the other
 * paths). The p99 of the pooled samples is the goal's figure: at 2 rounds of 5 s it was the 20th
 * worst of 2,000 requests, and two runs on one machine read PostgreSQL +2.68 then +3.75 ms and
 * Redis +3.06 then +1.99 — so 4 rounds of 10 s, 8,000 requests, whose p99 is the 80th worst.
 */
const RATE_SECONDS = Number(process.env.BENCH_RATE_SECONDS ?? 10)
const RATE_ROUNDS = Number(process.env.BENCH_RATE_ROUNDS ?? 4)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64)
const WARMUP = 3
/** Full load each server carries once before its first measured row (see the header). */
const FIRST_WARMUP = Number(process.env.BENCH_FIRST_WARMUP ?? 15)
const UPSTREAM_PORT = 3411
const ATRIUM_PORT = 3412
const PORTKEY_PORT = 3413
const PROXY_PORT = 3415
const upstreamBase = `http://127.0.0.1:${UPSTREAM_PORT}`
const portkeyBase = `http://127.0.0.1:${PORTKEY_PORT}`
const proxyBase = `http://127.0.0.1:${PROXY_PORT}`
/** Portkey routes by headers: OpenAI's API at the fake's address, with any key. */
const portkeyHeaders = {
  'x-portkey-provider': 'openai',
  'x-portkey-custom-host': `${upstreamBase}/v1`,
  'authorization': 'Bearer sk-bench',
}
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
  warmupSeconds = WARMUP
): Promise<Row> {
  const options = {
    url,
    method: 'POST' as const,
    connections: CONNECTIONS,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  }
  if (warmupSeconds > 0) await autocannon({ ...options, duration: warmupSeconds })
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

/** The unmeasured full load a server carries once before its first row. */
async function warmUp(url: string, headers: Record<string, string>, body = request) {
  await autocannon({
    url,
    method: 'POST',
    connections: CONNECTIONS,
    duration: FIRST_WARMUP,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  })
}

interface Path {
  name: string
  url: string
  headers: Record<string, string>
  /**
   * The process that answers the path (the fake upstream for direct): its CPU
   * over a paced run, per request. At this rate every process on these VMs
   * spends several times what a request costs it flat out (each wake-up runs
   * on cold caches; docs/gateway.md, Measured), so compare paths of one run.
   */
  pid?: number
  /** What it sends, when not `request`: Atrium's alias of the fake. */
  body?: typeof request
}

/**
 * Each path at the fixed rate, paced, in interleaved rounds (each run after an
 * unmeasured second on the same connections, which opens them); a row pools its rounds'
 * samples, and its added latency is over the first path's (direct) of the same rounds.
 */
async function atFixedRate(paths: Path[]) {
  const runs = new Map<string, PacedSamples[]>()
  const cpu = new Map<string, { ms: number; requests: number }>()
  for (let round = 0; round < RATE_ROUNDS; round++) {
    for (const path of paths) {
      const options = { ...path, body: JSON.stringify(path.body ?? request), rate: FIXED_RATE }
      const before = path.pid ? await cpuMs(path.pid) : 0
      const run = await pacedLoad({ ...options, seconds: RATE_SECONDS, leadInSeconds: 1 })
      if (path.pid) {
        const spent = cpu.get(path.name) ?? { ms: 0, requests: 0 }
        // The lead-in's requests too: the CPU reading covers them.
        const requests = Math.round(FIXED_RATE * (RATE_SECONDS + 1))
        cpu.set(path.name, {
          ms: spent.ms + (await cpuMs(path.pid)) - before,
          requests: spent.requests + requests,
        })
      }
      runs.set(path.name, [...(runs.get(path.name) ?? []), run])
    }
  }
  const rows = paths.map((path) => pacedRow(path.name, runs.get(path.name)!))
  const direct = rows[0]
  const added = (milliseconds: number) => Math.round(milliseconds * 100) / 100
  return rows.map((row) => {
    const spent = cpu.get(row.name)
    return {
      ...row,
      addedP50: added(row.p50 - direct.p50),
      addedP99: added(row.p99 - direct.p99),
      serverCpuMicrosPerRequest: spent ? Math.round((spent.ms * 1000) / spent.requests) : null,
    }
  })
}

function printRateTable(rows: Awaited<ReturnType<typeof atFixedRate>>) {
  printTable(
    [
      'path',
      'req/s',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'added p50',
      'added p99',
      'server CPU µs/req',
      'non-2xx',
    ],
    rows.map((entry, index) => [
      entry.name,
      entry.requestsPerSecond,
      entry.p50.toFixed(2),
      entry.p99.toFixed(2),
      entry.p999.toFixed(2),
      index === 0 ? '-' : signed(entry.addedP50),
      index === 0 ? '-' : signed(entry.addedP99),
      entry.serverCpuMicrosPerRequest ?? '-',
      entry.non2xx + entry.errors,
    ])
  )
}

const signed = (milliseconds: number) => `${milliseconds >= 0 ? '+' : ''}${milliseconds.toFixed(2)}`

/** Median time to the first streamed data line over sequential requests. */
async function timeToFirstToken(
  url: string,
  headers: Record<string, string>,
  body = request,
  rounds = 200
) {
  const samples: number[] = []
  for (let round = 0; round < rounds; round++) {
    const started = performance.now()
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ ...body, stream: true }),
    })
    const reader = response.body!.getReader()
    await reader.read()
    samples.push(performance.now() - started)
    for (let next = await reader.read(); !next.done; next = await reader.read()) {}
  }
  samples.sort((a, b) => a - b)
  return { p50: samples[Math.floor(rounds / 2)], p99: samples[Math.floor(rounds * 0.99)] }
}

/**
 * A key with 8 limited counters on an alias of the fake (bench/lib/gateway_key.ts, as bench:gc
 * and bench:memory set up), in one bench account per store reused run after run: registration
 * is limited per address (10 an hour), and a new account each run used two of them.
 */
async function setUpTenant(store: string) {
  const key = await gatewayBenchKey(atriumBase, UPSTREAM_PORT, {
    email: `gateway.${store}.bench@example.com`,
    tenantName: `Gateway bench (${store})`,
    prefix: 'gateway',
  })
  return {
    headers: { authorization: `Bearer ${key.secret}` },
    body: { ...request, model: key.alias },
  }
}

/** Rows measured several times: requests per second and percentiles averaged over the rounds. */
function averaged(name: string, samples: Row[]): Row {
  const mean = (pick: (row: Row) => number) =>
    Math.round(samples.reduce((sum, row) => sum + pick(row), 0) / samples.length)
  return {
    name,
    requestsPerSecond: mean((row) => row.requestsPerSecond),
    p50: mean((row) => row.p50),
    p99: mean((row) => row.p99),
    errors: samples.reduce((sum, row) => sum + row.errors, 0),
    non2xx: samples.reduce((sum, row) => sum + row.non2xx, 0),
  }
}

const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100

const upstream = spawnNode(['bench/lib/fake_llm.mjs'], { PORT: String(UPSTREAM_PORT) })
const proxy = spawnNode(['bench/lib/bare_proxy.mjs'], {
  PORT: String(PROXY_PORT),
  UPSTREAM: upstreamBase,
})
// Portkey's streaming answers 500 with @hono/node-server ≥ 1.14.2: package.json pins 1.14.1 for it.
const portkey = spawnNode(
  [
    'node_modules/@portkey-ai/gateway/build/start-server.js',
    `--port=${PORTKEY_PORT}`,
    '--headless',
  ],
  { NODE_ENV: 'production' }
)
const stores: Array<{ store: string; env: Record<string, string | undefined> }> = [
  { store: 'postgres', env: { REDIS_URL: undefined } },
]
if (process.env.REDIS_URL)
  stores.push({ store: 'redis', env: { REDIS_URL: process.env.REDIS_URL } })
else console.log('redis store: skipped (REDIS_URL is not set)')

const peers = [
  { name: 'direct to the fake upstream', base: upstreamBase, headers: {}, pid: upstream.pid },
  { name: 'bare node:http + undici proxy', base: proxyBase, headers: {}, pid: proxy.pid },
  {
    name: "Portkey's gateway 1.15.2",
    base: portkeyBase,
    headers: portkeyHeaders,
    pid: portkey.pid,
  },
]

const results: Array<Record<string, unknown>> = []
try {
  for (const base of [upstreamBase, proxyBase, portkeyBase]) {
    await waitUntilOk(`${base}/`, performance.now())
  }
  const probe = await fetch(`${portkeyBase}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...portkeyHeaders },
    body: JSON.stringify(request),
  })
  if (!probe.ok) throw new Error(`Portkey answered ${probe.status}: ${await probe.text()}`)

  const samples = new Map<string, Row[]>()
  const keep = (row: Row) => samples.set(row.name, [...(samples.get(row.name) ?? []), row])
  const ttft: Array<[string, { p50: number; p99: number }]> = []
  for (const peer of peers) {
    await warmUp(`${peer.base}/v1/chat/completions`, peer.headers)
    ttft.push([peer.name, await timeToFirstToken(`${peer.base}/v1/chat/completions`, peer.headers)])
  }
  const peerPaths: Path[] = peers.map((peer) => ({
    name: peer.name,
    url: `${peer.base}/v1/chat/completions`,
    headers: peer.headers,
    pid: peer.pid,
  }))
  const peerRates = await atFixedRate(peerPaths)
  const atriumRows: Array<{
    store: string
    name: string
    rss: number
    cold: Row
    rates: Awaited<ReturnType<typeof atFixedRate>>
  }> = []
  for (const { store, env } of stores) {
    const server = startAtriumServer(ATRIUM_PORT, { ATRIUM_ROLE: 'web', ...env })
    const name = `through Atrium (${store} store)`
    try {
      await waitUntilOk(`${atriumBase}/health/ready`, performance.now())
      const { headers, body } = await setUpTenant(store)
      // Its first seconds under load, as a server just deployed serves them; then the warm-up.
      const url = `${atriumBase}/v1/chat/completions`
      const cold = await load(`${name}, cold`, url, headers, body, 0)
      await warmUp(url, headers, body)
      for (let round = 0; round < ROUNDS; round++) {
        for (const peer of peers) {
          keep(await load(peer.name, `${peer.base}/v1/chat/completions`, peer.headers, request))
        }
        keep(await load(name, `${atriumBase}/v1/chat/completions`, headers, body))
      }
      const rss = await rssMiB(server.pid!)
      // Side by side with the floor: direct and the bare proxy in the same rounds.
      const rates = await atFixedRate([
        ...peerPaths.slice(0, 2),
        { name, url, headers, pid: server.pid, body },
      ])
      atriumRows.push({ store, name, rss, cold, rates })
      ttft.push([name, await timeToFirstToken(`${atriumBase}/v1/chat/completions`, headers, body)])
    } finally {
      await stop(server, 'SIGINT')
    }
  }

  const rows = [...samples.entries()].map(([name, list]) => averaged(name, list))
  const row = (name: string) => rows.find((entry) => entry.name === name)!
  const direct = row(peers[0].name)
  const peer = row(peers[2].name)
  for (const { store, name, rss, cold, rates } of atriumRows) {
    const atrium = row(name)
    results.push({
      store,
      ...atrium,
      addedP50: atrium.p50 - direct.p50,
      addedP99: atrium.p99 - direct.p99,
      throughputVsDirect: ratio(atrium.requestsPerSecond, direct.requestsPerSecond),
      throughputVsPortkey: ratio(atrium.requestsPerSecond, peer.requestsPerSecond),
      rssAfterLoadMiB: rss,
      cold: {
        ...cold,
        throughputVsPortkey: ratio(cold.requestsPerSecond, peer.requestsPerSecond),
      },
      atFixedRate: { ...rates[2], direct: rates[0], bareProxy: rates[1] },
    })
  }

  console.log(
    `Load: ${CONNECTIONS} connections, ${DURATION}s per row × ${ROUNDS} rounds per store, interleaved (after ${WARMUP}s warm-up each, and ${FIRST_WARMUP}s once per server before its first), autocannon, Node ${process.version}`
  )
  printTable(
    [
      'path',
      'req/s',
      'p50 ms',
      'p99 ms',
      'added p99',
      'vs direct',
      'vs Portkey',
      'errors',
      'non-2xx',
    ],
    rows.map((entry) => [
      entry.name,
      entry.requestsPerSecond,
      entry.p50,
      entry.p99,
      entry === direct ? '-' : String(entry.p99 - direct.p99),
      `x${ratio(entry.requestsPerSecond, direct.requestsPerSecond)}`,
      `x${ratio(entry.requestsPerSecond, peer.requestsPerSecond)}`,
      entry.errors,
      entry.non2xx,
    ])
  )
  for (const { name, cold } of atriumRows) {
    console.log(
      `${name}, cold — its first ${DURATION}s under load after start, before any warm-up: ${cold.requestsPerSecond} req/s (x${ratio(cold.requestsPerSecond, peer.requestsPerSecond)} of warm Portkey), p99 ${cold.p99} ms`
    )
  }
  const pacing = `${RATE_ROUNDS} interleaved rounds of ${RATE_SECONDS} s, samples pooled`
  console.log(`\nAt a fixed ${FIXED_RATE} req/s, paced (open loop), below saturation — ${pacing}:`)
  printRateTable(peerRates)
  for (const { rates } of atriumRows) {
    console.log('')
    printRateTable(rates)
  }
  console.log('\nStreaming time to first chunk, 200 sequential requests:')
  printTable(
    ['path', 'p50 ms', 'p99 ms', 'added p50'],
    ttft.map(([name, value]) => [
      name,
      value.p50.toFixed(2),
      value.p99.toFixed(2),
      name === peers[0].name ? '-' : (value.p50 - ttft[0][1].p50).toFixed(2),
    ])
  )
  console.log(
    `\nRSS after the load: ${atriumRows.map((entry) => `${entry.store} ${entry.rss} MiB`).join(', ')}`
  )

  const file = await writeResults('gateway', {
    date: new Date().toISOString(),
    node: process.version,
    load: {
      tool: 'autocannon',
      connections: CONNECTIONS,
      durationSeconds: DURATION,
      rounds: ROUNDS,
      warmupSeconds: WARMUP,
      firstWarmupSeconds: FIRST_WARMUP,
    },
    direct,
    peers: rows.filter((entry) => peers.some((candidate) => candidate.name === entry.name)),
    directAtFixedRate: peerRates[0],
    bareProxyAtFixedRate: peerRates[1],
    portkeyAtFixedRate: peerRates[2],
    fixedRate: {
      rate: FIXED_RATE,
      tool: 'bench/lib/paced_load.ts',
      seconds: RATE_SECONDS,
      rounds: RATE_ROUNDS,
    },
    atrium: results,
    timeToFirstChunk: Object.fromEntries(ttft),
  })
  console.log(`wrote ${file}`)
} finally {
  await stop(portkey)
  await stop(proxy)
  await stop(upstream)
}
