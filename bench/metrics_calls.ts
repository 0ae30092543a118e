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
import {
  LabelledCounter,
  LabelledHistogram,
  type LabelValue,
} from '#app/observability/labelled_metrics'
import { alternatingRounds, summariseCallTimes, timeCalls, writeResults } from './lib/report.js'

const CALLS = Number(process.env.BENCH_CALLS ?? 200_000)
const ROUNDS = 5
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const routes = ['/v1/chat/completions', '/api/v1/system/ping', '/api/v1/orders/:id']
const models = ['gpt-4o', 'llama', 'mini']
const statuses = [200, 200, 200, 429]

/** What a call site calls: a counter's inc or a histogram's observe, with the label values in order. */
type Recorder = (values: LabelValue[], amount: number) => void
type Kind = 'counter' | 'histogram'

/** The metrics a /v1 request updates, as the gateway and the HTTP kernel declare them. */
const metrics = {
  duration: { kind: 'histogram', labelNames: ['method', 'route', 'status'] },
  requests: { kind: 'counter', labelNames: ['model', 'kind', 'status'] },
  tokens: { kind: 'counter', labelNames: ['model', 'direction'] },
  cost: { kind: 'counter', labelNames: ['model', 'currency'] },
  latency: { kind: 'histogram', labelNames: ['model', 'phase'] },
  upstream: { kind: 'histogram', labelNames: ['deployment', 'provider', 'outcome'] },
} satisfies Record<string, { kind: Kind; labelNames: string[] }>
type Metrics = { [name in keyof typeof metrics]: Recorder }

/** prom-client's classes, called as the code called them: a labels object of strings per call. */
function promClient(
  name: string,
  kind: Kind,
  labelNames: string[],
  registers: Registry[]
): Recorder {
  const metric =
    kind === 'counter'
      ? new Counter({ name, help: name, labelNames, registers })
      : new Histogram({ name, help: name, labelNames, buckets: BUCKETS, registers })
  return (values, amount) => {
    const labels: Partial<Record<string, string>> = {}
    labelNames.forEach((label, index) => (labels[label] = String(values[index])))
    if (metric instanceof Counter) metric.inc(labels, amount)
    else metric.observe(labels, amount)
  }
}

function labelled(name: string, kind: Kind, labelNames: string[], registers: Registry[]): Recorder {
  if (kind === 'counter') {
    const counter = new LabelledCounter({ name, help: name, labelNames, registers })
    return (values, amount) => counter.inc(values, amount)
  }
  const histogram = new LabelledHistogram({
    name,
    help: name,
    labelNames,
    buckets: BUCKETS,
    registers,
  })
  return (values, amount) => histogram.observe(values, amount)
}

function made(make: typeof promClient): Metrics {
  const registers = [new Registry()]
  return Object.fromEntries(
    Object.entries(metrics).map(([name, { kind, labelNames }]) => [
      name,
      make(name, kind, labelNames, registers),
    ])
  ) as Metrics
}

/** One /v1 request's ten calls. */
function request(record: Metrics, index: number) {
  const model = models[index % 3]
  const status = statuses[index % 4]
  record.duration(['POST', routes[index % 3], status], 0.002)
  record.requests([model, 'chat', status], 1)
  record.tokens([model, 'input'], 12)
  record.tokens([model, 'output'], 30)
  record.cost([model, 'USD'], 0.0003)
  for (const phase of ['total', 'upstream', 'overhead', 'ttft'])
    record.latency([model, phase], 0.001)
  record.upstream([model, 'api.example.com', 'ok'], 0.0008)
}

const variants = {
  'prom-client Counter and Histogram': made(promClient),
  'labelled metrics (Atrium)': made(labelled),
}
const runs = await alternatingRounds(
  variants,
  (record) => timeCalls(CALLS, (index) => request(record, index)),
  ROUNDS
)
const summary = summariseCallTimes(runs, '/v1 request (10 metric calls)')
const file = await writeResults('metrics_calls', { calls: CALLS, rounds: ROUNDS, summary })
console.log(`wrote ${file}`)
