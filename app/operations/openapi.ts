import type { OpenApiFragment } from '#app/openapi/types'
import { json, pageOf, parameter, ref, response } from '#app/openapi/components'

const id = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }
const bearer = [{ bearer: [] }]
const missing = {
  ...response('NotFound'),
  description: 'operation_not_found (also for another tenant)',
}

export const operationsOpenApi: OpenApiFragment = {
  tags: [
    {
      name: 'operations',
      description: 'Long-running work: status, progress, result, cancellation',
    },
  ],
  paths: {
    '/api/v1/operations': {
      get: {
        operationId: 'operationsList',
        summary: 'Your operations, newest first (owners and admins: everyone’s)',
        tags: ['operations'],
        security: bearer,
        parameters: [
          {
            name: 'status',
            in: 'query',
            schema: { enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
          },
          { name: 'kind', in: 'query', schema: { type: 'string', maxLength: 80 } },
          parameter('Limit'),
          parameter('Cursor'),
        ],
        responses: {
          200: json(pageOf(ref('Operation'))),
          401: response('Unauthorized'),
          404: { ...response('NotFound'), description: 'tenant_not_found' },
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/operations/{id}': {
      get: {
        operationId: 'operationsShow',
        summary: 'Status, progress (0–100), and the result or a problem once finished',
        tags: ['operations'],
        security: bearer,
        parameters: [id],
        responses: { 200: json(ref('Operation')), 401: response('Unauthorized'), 404: missing },
      },
      delete: {
        operationId: 'operationsCancel',
        summary: 'Cancel: a queued operation at once, a running one as soon as it checks',
        tags: ['operations'],
        security: bearer,
        parameters: [id],
        responses: {
          202: json(ref('Operation'), 'Cancellation accepted'),
          401: response('Unauthorized'),
          404: missing,
          409: { ...response('Conflict'), description: 'operation_finished' },
        },
      },
    },
    '/api/v1/operations/{id}/events': {
      get: {
        operationId: 'operationsEvents',
        summary: 'Server-sent events: `progress` on every change, then `done`',
        tags: ['operations'],
        security: bearer,
        parameters: [id],
        responses: {
          200: {
            description: 'An event stream',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          401: response('Unauthorized'),
          404: missing,
        },
      },
    },
  },
  schemas: {
    Operation: {
      type: 'object',
      required: [
        'id',
        'kind',
        'status',
        'progress',
        'message',
        'result',
        'error',
        'cancelRequested',
        'createdBy',
        'createdAt',
        'startedAt',
        'finishedAt',
      ],
      properties: {
        id: { type: 'string', format: 'uuid' },
        kind: { type: 'string' },
        status: { enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
        progress: { type: 'integer', minimum: 0, maximum: 100 },
        message: { type: ['string', 'null'] },
        result: { description: 'The operation’s result once succeeded, else null' },
        error: { oneOf: [ref('Problem'), { type: 'null' }] },
        cancelRequested: { type: 'boolean' },
        createdBy: { type: ['string', 'null'], format: 'uuid' },
        createdAt: { type: 'string', format: 'date-time' },
        startedAt: { type: ['string', 'null'], format: 'date-time' },
        finishedAt: { type: ['string', 'null'], format: 'date-time' },
      },
      additionalProperties: false,
    },
  },
}
