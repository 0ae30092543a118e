import { test } from '@japa/runner'
import { Histogram, Registry } from 'prom-client'
import { RequestDurations } from '#app/observability/request_durations'

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** The same observations, in the same order, into prom-client's Histogram and into RequestDurations. */
function bothWith(observations: Array<[string, string, number, number]>) {
  const reference = new Registry()
  reference.setDefaultLabels({ service: 'atrium' })
  const histogram = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status',
    labelNames: ['method', 'route', 'status'],
    buckets: BUCKETS,
    registers: [reference],
  })
  const ours = new Registry()
  ours.setDefaultLabels({ service: 'atrium' })
  const durations = new RequestDurations({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route pattern and status',
    buckets: BUCKETS,
    registers: [ours],
  })
  for (const [method, route, status, seconds] of observations) {
    histogram.observe({ method, route, status: String(status) }, seconds)
    durations.observe(method, route, status, seconds)
  }
  return { reference, ours, durations }
}

/** Each line of an exposition with its labels sorted by name. */
function sameLabelOrder(exposition: string) {
  return exposition
    .split('\n')
    .map((line) =>
      line.replace(/\{([^}]*)\}/, (_, labels: string) => `{${labels.split(',').sort().join(',')}}`)
    )
}

test.group('RequestDurations', () => {
  test('is exposed exactly as prom-client’s Histogram exposes the same observations', async ({
    assert,
  }) => {
    const observations: Array<[string, string, number, number]> = []
    const routes = ['/api/v1/system/ping', '/api/v1/orders/:id', 'unmatched']
    // Durations on, between and beyond the bounds, over several series in an interleaved order.
    const durations = [0, 0.001, 0.0011, 0.003, 0.05, 0.0500001, 0.7, 2.5, 9.99, 10, 11, 120]
    durations.forEach((seconds, index) => {
      observations.push(['GET', routes[index % 3], index % 4 === 0 ? 404 : 200, seconds])
      observations.push(['POST', routes[(index + 1) % 3], 201, seconds / 3])
    })
    const { reference, ours } = bothWith(observations)
    const expected = await reference.metrics()
    assert.include(expected, 'http_request_duration_seconds_bucket{le="+Inf",')
    // The same lines in the same order; within a line, the labels in any order (as Prometheus reads them).
    assert.deepEqual(sameLabelOrder(await ours.metrics()), sameLabelOrder(expected))
    // As JSON, as a consumer of getMetricsAsJSON reads it.
    const asJson = async (registry: Registry) =>
      JSON.parse(JSON.stringify(await registry.getMetricsAsJSON()))
    assert.deepEqual(await asJson(ours), await asJson(reference))
  })

  test('a value that is not a finite number is not counted', async ({ assert }) => {
    const { ours, durations } = bothWith([['GET', '/a', 200, 0.002]])
    durations.observe('GET', '/a', 200, Number.NaN)
    durations.observe('GET', '/a', 200, Number.POSITIVE_INFINITY)
    assert.match(
      await ours.metrics(),
      /http_request_duration_seconds_count\{[^}]*route="\/a"[^}]*\} 1$/m
    )
  })

  test('resetting the registry forgets every series', async ({ assert }) => {
    const { ours } = bothWith([['GET', '/a', 200, 0.002]])
    ours.resetMetrics()
    assert.notInclude(await ours.metrics(), 'route="/a"')
  })
})
