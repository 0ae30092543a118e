import type { OpenApiFragment } from '#app/openapi/types'
import { json } from '#app/openapi/components'

const readiness = {
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: {
      enum: ['ok', 'degraded', 'error'],
      description: 'degraded: serving, but events are late',
    },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'status', 'message'],
        properties: {
          name: { type: 'string' },
          status: { type: 'string' },
          message: { type: 'string' },
        },
      },
    },
  },
}

export const platformOpenApi: OpenApiFragment = {
  tags: [{ name: 'platform', description: 'Health, metrics and this document' }],
  paths: {
    '/health/live': {
      get: {
        operationId: 'healthLive',
        summary: 'Liveness: the process answers',
        tags: ['platform'],
        responses: {
          200: json({
            type: 'object',
            required: ['status'],
            properties: { status: { const: 'ok' } },
          }),
        },
      },
    },
    '/health/ready': {
      get: {
        operationId: 'healthReady',
        summary:
          'Readiness: the database (and Redis when configured) answer; relay lag makes it degraded',
        tags: ['platform'],
        responses: { 200: json(readiness), 503: json(readiness, 'A dependency is down') },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics (text exposition format)',
        tags: ['platform'],
        responses: {
          200: { description: 'OK', content: { 'text/plain': { schema: { type: 'string' } } } },
        },
      },
    },
    '/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document',
        tags: ['platform'],
        responses: { 200: json({ type: 'object' }) },
      },
    },
    '/docs': {
      get: {
        operationId: 'docs',
        summary: 'Interactive API reference',
        tags: ['platform'],
        responses: {
          200: {
            description: 'HTML page',
            content: { 'text/html': { schema: { type: 'string' } } },
          },
        },
      },
    },
  },
}
