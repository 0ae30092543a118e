import type { Histogram, Registry } from 'prom-client'

type Label = 'method' | 'route' | 'status' | 'le'

interface Series {
  method: string
  route: string
  status: number
  /** Observations per bucket, not cumulative; the last counts those above every bound. */
  counts: Float64Array
  sum: number
  count: number
}

/** What a prom-client registry reads of a metric: its values for one scrape. */
interface Exposed {
  name: string
  help: string
  type: 'histogram'
  aggregator: 'sum'
  values: Array<{
    /** As prom-client's Histogram lists a bucket: exemplars are not recorded. */
    exemplar?: null
    labels: Partial<Record<Label, string | number>>
    value: number
    metricName: string
  }>
}

/**
 * A histogram of request durations by method, route pattern and status,
 * exposed by a prom-client registry as `Histogram` would expose it — the same
 * series and the same text — but recorded for a fraction of the cost.
 *
 * prom-client's `observe` builds a labels object, validates it, turns it into
 * a string key and looks the series up by that string, then finds the bucket
 * by a number-keyed property: ~0.4 µs in a loop and ~1.3 µs of
 * `GET /system/ping`'s CPU in a server. Every request observes once, so here
 * the series is found through three maps keyed by the values themselves (the
 * route pattern is the router's own string, the status a number) and counted
 * into a typed array; the labels and cumulative buckets are made only when
 * the registry is scraped.
 */
export class RequestDurations {
  readonly name: string
  readonly help: string
  readonly type = 'histogram' as const
  readonly aggregator = 'sum' as const
  readonly #bounds: readonly number[]
  readonly #series = new Map<string, Map<string, Map<number, Series>>>()
  /** The same series in the order they first appeared, which is the order a scrape lists them. */
  readonly #inOrder: Series[] = []

  constructor(options: {
    name: string
    help: string
    buckets: readonly number[]
    registers: Registry[]
  }) {
    this.name = options.name
    this.help = options.help
    this.#bounds = [...options.buckets].sort((a, b) => a - b)
    // A registry reads a metric only through `name`, `get()` and `reset()`: the prom-client
    // type lists its own four classes, so this one is registered under one of their names.
    for (const registry of options.registers) registry.registerMetric(this as unknown as Histogram)
  }

  observe(method: string, route: string, status: number, seconds: number) {
    if (!Number.isFinite(seconds)) return
    let byMethod = this.#series.get(route)
    if (!byMethod) this.#series.set(route, (byMethod = new Map()))
    let byStatus = byMethod.get(method)
    if (!byStatus) byMethod.set(method, (byStatus = new Map()))
    let series = byStatus.get(status)
    if (!series) {
      series = {
        method,
        route,
        status,
        counts: new Float64Array(this.#bounds.length + 1),
        sum: 0,
        count: 0,
      }
      byStatus.set(status, series)
      this.#inOrder.push(series)
    }
    let bucket = 0
    while (bucket < this.#bounds.length && seconds > this.#bounds[bucket]) bucket++
    series.counts[bucket] += 1
    series.sum += seconds
    series.count += 1
  }

  async get(): Promise<Exposed> {
    const values: Exposed['values'] = []
    for (const series of this.#inOrder) {
      const labels = { method: series.method, route: series.route, status: String(series.status) }
      let cumulative = 0
      this.#bounds.forEach((bound, index) => {
        cumulative += series.counts[index]
        values.push({
          labels: { ...labels, le: bound },
          value: cumulative,
          metricName: `${this.name}_bucket`,
          exemplar: null,
        })
      })
      values.push(
        {
          labels: { ...labels, le: '+Inf' },
          value: series.count,
          metricName: `${this.name}_bucket`,
          exemplar: null,
        },
        { labels, value: series.sum, metricName: `${this.name}_sum` },
        { labels, value: series.count, metricName: `${this.name}_count` }
      )
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    }
  }

  reset() {
    this.#series.clear()
    this.#inOrder.length = 0
  }
}
