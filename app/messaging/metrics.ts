import { Counter, Gauge, Histogram } from 'prom-client'
import { metricsRegistry } from '#app/observability/metrics'
import { outboxLag } from '#app/messaging/admin'

export const deliveriesTotal = new Counter({
  name: 'messaging_deliveries_total',
  help: 'Event deliveries by transport, subscriber and outcome (handled, duplicate, retry, dead)',
  labelNames: ['transport', 'subscriber', 'outcome'] as const,
  registers: [metricsRegistry],
})

export const handlerDuration = new Histogram({
  name: 'messaging_handler_duration_seconds',
  help: 'Time a subscriber took to handle one event, inside its unit of work',
  labelNames: ['subscriber'] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
  registers: [metricsRegistry],
})

export const batchesSplit = new Counter({
  name: 'messaging_delivery_batches_split_total',
  help: 'Delivery batches rolled back because one handler failed, then handled one by one',
  registers: [metricsRegistry],
})

/**
 * prom-client collects metrics in parallel: both gauges of one scrape share a
 * single in-flight query, dropped once it settles so the next scrape reads anew.
 */
let inflight: ReturnType<typeof outboxLag> | undefined
function scrapeStatus() {
  inflight ??= outboxLag().finally(() => setImmediate(() => (inflight = undefined)))
  return inflight
}

/** Read from the database at scrape time, so every process reports the same backlog. */
new Gauge({
  name: 'messaging_outbox_backlog',
  help: 'Outbox events due but not yet relayed',
  registers: [metricsRegistry],
  async collect() {
    const outbox = await scrapeStatus()
    this.set(outbox.pending)
  },
})

new Gauge({
  name: 'messaging_relay_lag_seconds',
  help: 'Age of the oldest due outbox event not yet relayed (0 when none)',
  registers: [metricsRegistry],
  async collect() {
    const outbox = await scrapeStatus()
    this.set(outbox.oldestPendingSeconds ?? 0)
  },
})
