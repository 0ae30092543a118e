import { defineApi, schema as s } from '#app/openapi/define'

const readiness = s.object({
  status: s.described(
    s.enum(['ok', 'degraded', 'error']),
    'degraded: serving, but events are late'
  ),
  checks: s.array(s.object({ name: s.string, status: s.string, message: s.string })),
})
const page = (description: string, contentType: string) => ({
  description,
  content: { [contentType]: { schema: s.string } },
})

export const platformOpenApi = defineApi(
  { name: 'platform', description: 'Health, metrics and this document' },
  {
    'GET /health/live': {
      id: 'healthLive',
      summary: 'Liveness: the process answers',
      auth: 'none',
      ok: { 200: s.object({ status: { const: 'ok' } }) },
    },
    'GET /health/ready': {
      id: 'healthReady',
      summary:
        'Readiness: the database (and Redis when configured) answer; relay lag makes it degraded',
      auth: 'none',
      ok: { 200: readiness },
      errors: {
        503: {
          description: 'A dependency is down',
          content: { 'application/json': { schema: readiness } },
        },
      },
    },
    'GET /metrics': {
      id: 'metrics',
      summary: 'Prometheus metrics (operators: METRICS_TOKEN or an address in METRICS_ALLOW)',
      auth: 'none',
      ok: { 200: page('Text exposition format', 'text/plain') },
      errors: { 403: 'operator_only' },
    },
    'GET /openapi.json': {
      id: 'openapi',
      summary: 'This document',
      auth: 'none',
      ok: { 200: s.record },
    },
    'GET /docs': {
      id: 'docs',
      summary: 'Interactive API reference',
      auth: 'none',
      ok: { 200: page('HTML page', 'text/html') },
    },
  }
)
