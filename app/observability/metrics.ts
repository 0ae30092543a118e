import { Registry, collectDefaultMetrics } from 'prom-client'
import { LabelledHistogram } from '#app/observability/labelled_metrics'

/** One registry for the process; modules add their own metrics to it. */
export const metricsRegistry = new Registry()
metricsRegistry.setDefaultLabels({ service: 'atrium' })
collectDefaultMetrics({ register: metricsRegistry })

/** Observed for every request, so without prom-client's per-call label hashing (labelled_metrics.ts). */
export const httpRequestDuration = new LabelledHistogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration by method, route pattern and status',
  labelNames: ['method', 'route', 'status'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [metricsRegistry],
})
