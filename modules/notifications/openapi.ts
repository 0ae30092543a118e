import type { OpenApiFragment } from '#app/openapi/types'
import { json, pageOf, ref, response } from '#app/openapi/components'
import { queryParameters, requestBody } from '#app/openapi/from_validators'
import {
  notificationListValidator,
  webhookCreateValidator,
} from '#modules/notifications/validators/webhooks'
import { webhookEventDeclarations, webhookEventTypes } from '#app/messaging/webhook_events'

const bearer = [{ bearer: [] }]
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' } }
const errors = {
  401: response('Unauthorized'),
  403: { ...response('Forbidden'), description: 'forbidden (role) or no_active_tenant' },
}
const webhookProperties = () => ({
  id: { type: 'string', format: 'uuid' },
  url: { type: 'string' },
  eventTypes: { type: 'array', items: { enum: webhookEventTypes() } },
  description: { type: ['string', 'null'] },
  active: { type: 'boolean' },
  consecutiveFailures: { type: 'integer' },
  disabledAt: { type: ['string', 'null'], format: 'date-time' },
  disabledReason: { type: ['string', 'null'] },
  createdAt: { type: 'string', format: 'date-time' },
})

/**
 * A function: the webhook event types, and their payload schemas, are what the
 * other modules declared, known once every definition is loaded.
 */
const fragment = (): OpenApiFragment => ({
  tags: [{ name: 'notifications', description: 'In-app notifications and signed webhooks' }],
  paths: {
    '/api/v1/notifications': {
      get: {
        operationId: 'notificationsList',
        summary: 'Your notifications in the active tenant, newest first (unread=true to filter)',
        tags: ['notifications'],
        security: bearer,
        parameters: queryParameters(notificationListValidator),
        responses: {
          200: json(pageOf(ref('Notification'))),
          ...errors,
          422: response('ValidationFailed'),
        },
      },
    },
    '/api/v1/notifications/{id}/read': {
      post: {
        operationId: 'notificationsMarkRead',
        summary: 'Mark a notification read',
        tags: ['notifications'],
        security: bearer,
        parameters: [id],
        responses: { 200: json(ref('Notification')), ...errors, 404: response('NotFound') },
      },
    },
    '/api/v1/webhooks': {
      post: {
        operationId: 'webhooksCreate',
        summary: 'Register an endpoint for event types; the signing secret is in this answer only',
        tags: ['notifications'],
        security: bearer,
        requestBody: requestBody(webhookCreateValidator),
        responses: {
          201: json(ref('WebhookWithSecret'), 'Created'),
          ...errors,
          422: response('ValidationFailed'),
        },
      },
      get: {
        operationId: 'webhooksList',
        summary: 'The tenant’s webhooks',
        tags: ['notifications'],
        security: bearer,
        responses: {
          200: json({
            type: 'object',
            required: ['data'],
            properties: { data: { type: 'array', items: ref('Webhook') } },
          }),
          ...errors,
        },
      },
    },
    '/api/v1/webhooks/{id}': {
      get: {
        operationId: 'webhooksShow',
        summary: 'One webhook (active, failure streak, why it was disabled)',
        tags: ['notifications'],
        security: bearer,
        parameters: [id],
        responses: { 200: json(ref('Webhook')), ...errors, 404: response('NotFound') },
      },
      delete: {
        operationId: 'webhooksDelete',
        summary: 'Stop delivering to a webhook (its delivery log stays)',
        tags: ['notifications'],
        security: bearer,
        parameters: [id],
        responses: { 204: { description: 'Deleted' }, ...errors, 404: response('NotFound') },
      },
    },
    '/api/v1/webhooks/{id}/deliveries': {
      get: {
        operationId: 'webhooksDeliveries',
        summary: 'The last 100 deliveries: status, attempts, last answer',
        tags: ['notifications'],
        security: bearer,
        parameters: [id],
        responses: {
          200: json({
            type: 'object',
            required: ['data'],
            properties: { data: { type: 'array', items: ref('WebhookDelivery') } },
          }),
          ...errors,
          404: response('NotFound'),
        },
      },
    },
  },
  schemas: {
    WebhookBody: {
      description:
        'The JSON body of every webhook POST (signed in Atrium-Signature); `data` is the event payload.',
      oneOf: webhookEventDeclarations().map(([type, declaration]) => ({
        type: 'object',
        description: declaration.description,
        required: ['id', 'type', 'createdAt', 'data'],
        properties: {
          id: { type: 'string', format: 'uuid' },
          type: { const: type },
          createdAt: { type: 'string', format: 'date-time' },
          data: declaration.payload,
        },
      })),
    },
    Notification: {
      type: 'object',
      required: ['id', 'kind', 'title', 'body', 'data', 'readAt', 'createdAt'],
      properties: {
        id: { type: 'string', format: 'uuid' },
        kind: { type: 'string' },
        title: { type: 'string' },
        body: { type: 'string' },
        data: { type: 'object' },
        userId: { type: ['string', 'null'] },
        readAt: { type: ['string', 'null'], format: 'date-time' },
        createdAt: { type: 'string', format: 'date-time' },
      },
      additionalProperties: false,
    },
    Webhook: {
      type: 'object',
      required: ['id', 'url', 'eventTypes', 'active'],
      properties: webhookProperties(),
      additionalProperties: false,
    },
    WebhookWithSecret: {
      type: 'object',
      required: ['id', 'url', 'eventTypes', 'active', 'secret'],
      properties: { ...webhookProperties(), secret: { type: 'string', pattern: '^whsec_' } },
      additionalProperties: false,
    },
    WebhookDelivery: {
      type: 'object',
      required: ['id', 'eventId', 'eventType', 'status', 'attempts'],
      properties: {
        id: { type: 'string' },
        eventId: { type: 'string' },
        eventType: { type: 'string' },
        status: { enum: ['pending', 'delivered', 'failed'] },
        attempts: { type: 'integer' },
        lastStatusCode: { type: ['integer', 'null'] },
        lastError: { type: ['string', 'null'] },
        lastDurationMs: { type: ['integer', 'null'] },
        deliveredAt: { type: ['string', 'null'] },
        nextAttemptAt: { type: ['string', 'null'] },
        createdAt: { type: 'string' },
      },
    },
  },
})

export default fragment
