import type {
  Counter,
  Histogram,
  OpenMetricsContentType,
  PrometheusContentType,
  Registry,
} from 'prom-client'

type AnyRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>

/**
 * A label's value as a call site has it: a status stays a number until a scrape. A call site
 * passes one type for a label (200 and '200' would be two series with the same labels).
 */
export type LabelValue = string | number

interface Series {
  values: readonly LabelValue[]
}

/** One scrape's figures, as a prom-client registry reads them from its own metrics. */
interface Exposed {
  name: string
  help: string
  type: 'histogram' | 'counter'
  aggregator: 'sum'
  values: Array<{
    labels: Record<string, LabelValue>
    value: number
    metricName?: string
    /** As prom-client's Histogram lists a bucket: exemplars are not recorded. */
    exemplar?: null
  }>
}

/**
 * What prom-client's Counter and Histogram do on every call — build a labels
 * object, validate it, hash it to a string key, find the series by that
 * string — costs ~0.4 µs; the HTTP kernel records every request and the
 * gateway counts each /v1 call eight times over. These metrics find a series
 * through one map per label, keyed by the values themselves, in the order of
 * `labelNames`, and build labels only when the registry is scraped. What a
 * scrape shows is what prom-client's own class would show for the same calls
 * (tests/unit/observability/labelled_metrics.spec.ts compares them).
 *
 * A registry reads a metric only through `name`, `get()` and `reset()`; its
 * type lists prom-client's classes, so these are registered under one's name.
 */
abstract class LabelledMetric<S extends Series> {
  readonly name: string
  readonly help: string
  readonly aggregator = 'sum' as const
  abstract readonly type: Exposed['type']
  protected readonly labelNames: readonly string[]
  readonly #root = new Map<LabelValue, unknown>()
  /** The series in the order they first appeared, which is the order a scrape lists them. */
  protected readonly inOrder: S[] = []

  constructor(options: {
    name: string
    help: string
    labelNames: readonly string[]
    registers: AnyRegistry[]
  }) {
    this.name = options.name
    this.help = options.help
    // A metric without labels has one series: prom-client's own classes are as cheap for it.
    if (options.labelNames.length === 0)
      throw new Error(`${options.name}: a labelled metric needs labels`)
    this.labelNames = options.labelNames
    for (const registry of options.registers) {
      registry.registerMetric(this as unknown as Counter | Histogram)
    }
  }

  protected abstract newSeries(values: readonly LabelValue[]): S

  /** The series of these label values (one per label name, in order), made on first use. */
  protected series(values: readonly LabelValue[]): S {
    // As prom-client refuses a label it was not given: a call site with the wrong count is a bug.
    if (values.length !== this.labelNames.length) {
      throw new Error(
        `${this.name}: ${values.length} label values for ${this.labelNames.length} labels`
      )
    }
    let level = this.#root
    const last = values.length - 1
    for (let index = 0; index < last; index++) {
      let next = level.get(values[index]) as Map<LabelValue, unknown> | undefined
      if (!next) level.set(values[index], (next = new Map()))
      level = next
    }
    let found = level.get(values[last]) as S | undefined
    if (!found) {
      found = this.newSeries([...values])
      level.set(values[last], found)
      this.inOrder.push(found)
    }
    return found
  }

  protected labelsOf(series: S) {
    const labels: Record<string, LabelValue> = {}
    this.labelNames.forEach((name, index) => (labels[name] = String(series.values[index])))
    return labels
  }

  abstract get(): Promise<Exposed>

  reset() {
    this.#root.clear()
    this.inOrder.length = 0
  }
}

interface HistogramSeries extends Series {
  /** Observations per bucket, not cumulative; the last counts those above every bound. */
  counts: Float64Array
  sum: number
  count: number
}

export class LabelledHistogram extends LabelledMetric<HistogramSeries> {
  readonly type = 'histogram' as const
  readonly #bounds: readonly number[]

  constructor(options: {
    name: string
    help: string
    labelNames: readonly string[]
    buckets: readonly number[]
    registers: AnyRegistry[]
  }) {
    super(options)
    this.#bounds = [...options.buckets].sort((a, b) => a - b)
  }

  protected newSeries(values: readonly LabelValue[]): HistogramSeries {
    return { values, counts: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 }
  }

  /** A value that is not a finite number is not counted (prom-client would throw). */
  observe(values: readonly LabelValue[], value: number) {
    if (!Number.isFinite(value)) return
    const series = this.series(values)
    let bucket = 0
    while (bucket < this.#bounds.length && value > this.#bounds[bucket]) bucket++
    series.counts[bucket] += 1
    series.sum += value
    series.count += 1
  }

  async get(): Promise<Exposed> {
    const values: Exposed['values'] = []
    const bucket = `${this.name}_bucket`
    for (const series of this.inOrder) {
      const labels = this.labelsOf(series)
      let cumulative = 0
      this.#bounds.forEach((bound, index) => {
        cumulative += series.counts[index]
        values.push({
          labels: { ...labels, le: bound },
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        })
      })
      values.push(
        {
          labels: { ...labels, le: '+Inf' },
          value: series.count,
          metricName: bucket,
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
}

interface CounterSeries extends Series {
  value: number
}

export class LabelledCounter extends LabelledMetric<CounterSeries> {
  readonly type = 'counter' as const

  protected newSeries(values: readonly LabelValue[]): CounterSeries {
    return { values, value: 0 }
  }

  /** A counter only goes up: a negative or non-finite amount is not counted (prom-client would throw). */
  inc(values: readonly LabelValue[], amount = 1) {
    if (!(amount >= 0) || amount === Number.POSITIVE_INFINITY) return
    this.series(values).value += amount
  }

  async get(): Promise<Exposed> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.inOrder.map((series) => ({
        labels: this.labelsOf(series),
        value: series.value,
      })),
    }
  }
}
