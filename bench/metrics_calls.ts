/*
| What a request's metrics cost, side by side in one run: the calls a
| /v1/chat/completions request makes (one HTTP duration, four gateway
| counters, four latency observations, one upstream attempt) through
| prom-client's Counter and Histogram, and through Atrium's labelled metrics
| (app/observability/labelled_metrics.ts), which find a series by its label
| values instead of hashing a labels object. Label values cycle over a few
| routes, models and statuses, as a server's do.
|
|   npm run bench:metrics     (BENCH_CALLS=200000 requests per round, 5 alternating rounds)
*/
import { Counter, Histogram, Registry } from 'prom-client'
import { LabelledCounter, LabelledHistogram } from '#app/observability/labelled_metrics'
import { summariseCallTimes, writeResults } from './lib/report.js'

const CALLS = Number(process.env.BENCH_CALLS ?? 200_000)
const ROUNDS = 5
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const routes = ['/v1/chat/completions', '/api/v1/system/ping', '/api/v1/orders/:id']
const models = ['gpt-4o', 'llama', 'mini']
const statuses = [200, 200, 200, 429]

/** One request's calls, through one set of metrics. */
type Request = (index: number) => void

function promClient(): Request {
  const registers = [new Registry()]
  const duration = new Histogram({
    name: 'd',
    help: 'd',
    labelNames: ['method', 'route', 'status'],
    buckets: BUCKETS,
    registers,
  })
  const requests = new Counter({
    name: 'r',
    help: 'r',
    labelNames: ['model', 'kind', 'status'],
    registers,
  })
  const tokens = new Counter({
    name: 't',
    help: 't',
    labelNames: ['model', 'direction'],
    registers,
  })
  const cost = new Counter({ name: 'c', help: 'c', labelNames: ['model', 'currency'], registers })
  const latency = new Histogram({
    name: 'l',
    help: 'l',
    labelNames: ['model', 'phase'],
    buckets: BUCKETS,
    registers,
  })
  const upstream = new Histogram({
    name: 'u',
    help: 'u',
    labelNames: ['deployment', 'provider', 'outcome'],
    buckets: BUCKETS,
    registers,
  })
  return (index) => {
    const model = models[index % 3]
    const status = statuses[index % 4]
    duration.observe({ method: 'POST', route: routes[index % 3], status: String(status) }, 0.002)
    requests.inc({ model, kind: 'chat', status: String(status) })
    tokens.inc({ model, direction: 'input' }, 12)
    tokens.inc({ model, direction: 'output' }, 30)
    cost.inc({ model, currency: 'USD' }, 0.0003)
    for (const phase of ['total', 'upstream', 'overhead', 'ttft'])
      latency.observe({ model, phase }, 0.001)
    upstream.observe({ deployment: model, provider: 'api.example.com', outcome: 'ok' }, 0.0008)
  }
}

function labelled(): Request {
  const registers = [new Registry()]
  const duration = new LabelledHistogram({
    name: 'd',
    help: 'd',
    labelNames: ['method', 'route', 'status'],
    buckets: BUCKETS,
    registers,
  })
  const requests = new LabelledCounter({
    name: 'r',
    help: 'r',
    labelNames: ['model', 'kind', 'status'],
    registers,
  })
  const tokens = new LabelledCounter({
    name: 't',
    help: 't',
    labelNames: ['model', 'direction'],
    registers,
  })
  const cost = new LabelledCounter({
    name: 'c',
    help: 'c',
    labelNames: ['model', 'currency'],
    registers,
  })
  const latency = new LabelledHistogram({
    name: 'l',
    help: 'l',
    labelNames: ['model', 'phase'],
    buckets: BUCKETS,
    registers,
  })
  const upstream = new LabelledHistogram({
    name: 'u',
    help: 'u',
    labelNames: ['deployment', 'provider', 'outcome'],
    buckets: BUCKETS,
    registers,
  })
  return (index) => {
    const model = models[index % 3]
    const status = statuses[index % 4]
    duration.observe(['POST', routes[index % 3], status], 0.002)
    requests.inc([model, 'chat', status])
    tokens.inc([model, 'input'], 12)
    tokens.inc([model, 'output'], 30)
    cost.inc([model, 'USD'], 0.0003)
    for (const phase of ['total', 'upstream', 'overhead', 'ttft'])
      latency.observe([model, phase], 0.001)
    upstream.observe([model, 'api.example.com', 'ok'], 0.0008)
  }
}

function measure(request: Request) {
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  for (let index = 0; index < CALLS; index++) request(index)
  const elapsed = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  return {
    microsPerCall: (elapsed * 1000) / CALLS,
    cpuMicrosPerCall: (cpu.user + cpu.system) / CALLS,
  }
}

const variants: Record<string, Request> = {
  'prom-client Counter and Histogram': promClient(),
  'labelled metrics (Atrium)': labelled(),
}
const runs: Record<string, Array<ReturnType<typeof measure>>> = {}
// The first round warms the JIT and is not counted.
for (let round = 0; round <= ROUNDS; round++) {
  for (const [name, request] of Object.entries(variants)) {
    const result = measure(request)
    if (round > 0) (runs[name] ??= []).push(result)
  }
}
const summary = summariseCallTimes(runs, '/v1 request (10 metric calls)')
const file = await writeResults('metrics_calls', { calls: CALLS, rounds: ROUNDS, summary })
console.log(`wrote ${file}`)
