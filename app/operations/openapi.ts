import { defineApi, ref, schema as s } from '#app/openapi/define'
import { operationListValidator } from '#app/operations/validators'

const missing = { 404: 'operation_not_found (also for another tenant)' }
const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled']

export const operationsOpenApi = defineApi(
  { name: 'operations', description: 'Long-running work: status, progress, result, cancellation' },
  {
    'GET /api/v1/operations': {
      id: 'operationsList',
      summary: 'Your operations, newest first (owners and admins: everyone’s)',
      query: operationListValidator,
      ok: { 200: s.pageOf(ref('Operation')) },
    },
    'GET /api/v1/operations/{id}': {
      id: 'operationsShow',
      summary: 'Status, progress (0–100), and the result or a problem once finished',
      ok: { 200: ref('Operation') },
      errors: missing,
    },
    'DELETE /api/v1/operations/{id}': {
      id: 'operationsCancel',
      summary: 'Cancel: a queued operation at once, a running one as soon as it checks',
      ok: { 202: ref('Operation') },
      errors: { ...missing, 409: 'operation_finished' },
    },
    'GET /api/v1/operations/{id}/events': {
      id: 'operationsEvents',
      summary: 'Server-sent events: `progress` on every change, then `done`',
      ok: {
        200: {
          description: 'An event stream; each event’s data is the Operation as JSON',
          content: { 'text/event-stream': { schema: s.string } },
        },
      },
      errors: missing,
    },
  },
  {
    Operation: s.object({
      id: s.uuid,
      kind: s.string,
      status: s.enum(STATUSES),
      progress: { type: 'integer', minimum: 0, maximum: 100 },
      message: s.nullable(s.string),
      result: { description: 'The operation’s result once succeeded, else null' },
      error: s.nullable(ref('Problem')),
      cancelRequested: s.boolean,
      createdBy: s.nullable(s.uuid),
      createdAt: s.dateTime,
      startedAt: s.nullable(s.dateTime),
      finishedAt: s.nullable(s.dateTime),
    }),
  }
)
