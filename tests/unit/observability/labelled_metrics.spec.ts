import { test } from '@japa/runner'
import {
  Counter,
  Histogram,
  Registry,
  type OpenMetricsContentType,
  type PrometheusContentType,
} from 'prom-client'
import {
  LabelledCounter,
  LabelledHistogram,
  type LabelValue,
} from '#app/observability/labelled_metrics'

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const LABELS = ['method', 'route', 'status']

type AnyRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>

function registries(openMetrics = false) {
  const made = (): AnyRegistry => {
    if (!openMetrics) return new Registry()
    const registry = new Registry<OpenMetricsContentType>()
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
    return registry
  }
  const reference = made()
  const ours = made()
  for (const registry of [reference, ours]) registry.setDefaultLabels({ service: 'atrium' })
  return { reference, ours }
}

/** The values as prom-client takes them: an object of strings. */
function labelsOf(names: string[], values: LabelValue[]) {
  return Object.fromEntries(names.map((name, index) => [name, String(values[index])]))
}

/** Each line of an exposition with its labels sorted by name. */
function sameLabelOrder(exposition: string) {
  return exposition
    .split('\n')
    .map((line) =>
      line.replace(/\{([^}]*)\}/, (_, labels: string) => `{${labels.split(',').sort().join(',')}}`)
    )
}

/** The same lines in the same order (labels within a line in any order), and the same JSON. */
async function assertExposedAlike(
  assert: { deepEqual: (a: unknown, b: unknown) => void },
  ours: AnyRegistry,
  reference: AnyRegistry
) {
  assert.deepEqual(sameLabelOrder(await ours.metrics()), sameLabelOrder(await reference.metrics()))
  const asJson = async (registry: AnyRegistry) =>
    JSON.parse(JSON.stringify(await registry.getMetricsAsJSON()))
  assert.deepEqual(await asJson(ours), await asJson(reference))
}

test.group('Labelled metrics', () => {
  test('a histogram is exposed exactly as prom-client’s Histogram exposes the same observations', async ({
    assert,
  }) => {
    const { reference, ours } = registries()
    const options = { name: 'http_request_duration_seconds', help: 'Duration', buckets: BUCKETS }
    const histogram = new Histogram({ ...options, labelNames: LABELS, registers: [reference] })
    const labelled = new LabelledHistogram({ ...options, labelNames: LABELS, registers: [ours] })
    const routes = ['/api/v1/system/ping', '/api/v1/orders/:id', 'unmatched']
    // On, between and beyond the bounds, over several series in an interleaved order.
    const durations = [0, 0.001, 0.0011, 0.003, 0.05, 0.0500001, 0.7, 2.5, 9.99, 10, 11, 120]
    durations.forEach((seconds, index) => {
      const calls: Array<[LabelValue[], number]> = [
        [['GET', routes[index % 3], index % 4 === 0 ? 404 : 200], seconds],
        [['POST', routes[(index + 1) % 3], 201], seconds / 3],
      ]
      for (const [values, value] of calls) {
        histogram.observe(labelsOf(LABELS, values), value)
        labelled.observe(values, value)
      }
    })
    assert.include(await reference.metrics(), 'http_request_duration_seconds_bucket{le="+Inf",')
    await assertExposedAlike(assert, ours, reference)
  })

  for (const openMetrics of [false, true]) {
    test(`a counter is exposed exactly as prom-client’s Counter exposes the same increments${openMetrics ? ' (OpenMetrics: …_total)' : ''}`, async ({
      assert,
    }) => {
      const { reference, ours } = registries(openMetrics)
      const labelNames = ['model', 'direction']
      const options = { name: 'gateway_tokens', help: 'Tokens', labelNames }
      const counter = new Counter({ ...options, registers: [reference] })
      const labelled = new LabelledCounter({ ...options, registers: [ours] })
      const calls: Array<[LabelValue[], number | undefined]> = [
        [['gpt-4o', 'input'], 12],
        [['gpt-4o', 'output'], 3],
        [['llama', 'input'], undefined],
        [['gpt-4o', 'input'], 0.5],
        [['llama', 'input'], 0],
      ]
      for (const [values, amount] of calls) {
        counter.inc(labelsOf(labelNames, values), amount)
        labelled.inc(values, amount)
      }
      if (openMetrics) assert.include(await reference.metrics(), 'gateway_tokens_total{')
      await assertExposedAlike(assert, ours, reference)
    })
  }

  test('an amount prom-client would refuse is not counted, a wrong number of label values throws, and a reset forgets every series', async ({
    assert,
  }) => {
    const { ours } = registries()
    const histogram = new LabelledHistogram({
      name: 'h',
      help: 'h',
      labelNames: ['route'],
      buckets: BUCKETS,
      registers: [ours],
    })
    const counter = new LabelledCounter({
      name: 'c',
      help: 'c',
      labelNames: ['route'],
      registers: [ours],
    })
    histogram.observe(['/a'], 0.002)
    histogram.observe(['/a'], Number.NaN)
    histogram.observe(['/a'], Number.POSITIVE_INFINITY)
    counter.inc(['/a'], 2)
    counter.inc(['/a'], -1)
    counter.inc(['/a'], Number.NaN)
    counter.inc(['/a'], Number.POSITIVE_INFINITY)
    const text = await ours.metrics()
    assert.match(text, /^h_count\{[^}]*route="\/a"[^}]*\} 1$/m)
    assert.match(text, /^c\{[^}]*route="\/a"[^}]*\} 2$/m)
    // A call site with the wrong number of values is refused, as prom-client refuses a stray label.
    assert.throws(() => counter.inc(['/a', 'extra'], 1), /2 label values for 1 labels/)
    assert.throws(() => histogram.observe([], 1), /0 label values for 1 labels/)
    ours.resetMetrics()
    assert.notInclude(await ours.metrics(), 'route="/a"')
  })
})
