import { defineApi, ref, schema as s } from '#app/openapi/define'
import {
  notificationListValidator,
  webhookCreateValidator,
  webhookRotateValidator,
  webhookUpdateValidator,
} from '#modules/notifications/validators/webhooks'
import { webhookEventDeclarations, webhookEventTypes } from '#app/messaging/webhook_events'

const webhookFields = () => ({
  id: s.uuid,
  url: s.string,
  eventTypes: s.array(s.enum(webhookEventTypes())),
  description: s.nullable(s.string),
  active: s.boolean,
  consecutiveFailures: s.integer,
  disabledAt: s.nullable(s.dateTime),
  disabledReason: s.nullable(s.string),
  previousSecretExpiresAt: s.described(
    s.nullable(s.dateTime),
    'After a rotation: until then deliveries carry a second v1 signature with the old secret'
  ),
  createdAt: s.dateTime,
})

/**
 * A function: the webhook event types, and their payload schemas, are what the
 * other modules declared, known once every definition is loaded.
 */
export default () =>
  defineApi(
    { name: 'notifications', description: 'In-app notifications and signed webhooks' },
    {
      'GET /api/v1/notifications': {
        id: 'notificationsList',
        summary: 'Your notifications in the active tenant, newest first (unread=true to filter)',
        query: notificationListValidator,
        ok: { 200: s.pageOf(ref('Notification')) },
      },
      'POST /api/v1/notifications/{id}/read': {
        id: 'notificationsMarkRead',
        summary: 'Mark a notification read, for you only',
        ok: { 200: ref('Notification') },
        errors: { 404: 'notification_not_found' },
      },
      'POST /api/v1/webhooks': {
        id: 'webhooksCreate',
        summary: 'Register an endpoint for event types; the signing secret is in this answer only',
        body: webhookCreateValidator,
        ok: { 201: ref('WebhookWithSecret') },
        errors: { 409: 'webhook_limit_reached (WEBHOOKS_MAX_PER_TENANT)' },
      },
      'GET /api/v1/webhooks': {
        id: 'webhooksList',
        summary: 'The tenant’s webhooks',
        ok: { 200: s.listOf(ref('Webhook')) },
      },
      'GET /api/v1/webhooks/{id}': {
        id: 'webhooksShow',
        summary: 'One webhook (active, failure streak, why it was disabled)',
        ok: { 200: ref('Webhook') },
        errors: { 404: 'webhook_not_found' },
      },
      'PATCH /api/v1/webhooks/{id}': {
        id: 'webhooksUpdate',
        summary:
          'Change the URL, event types or description; enabled: true re-enables it (clearing the failure streak)',
        body: webhookUpdateValidator,
        ok: { 200: ref('Webhook') },
        errors: { 404: 'webhook_not_found' },
      },
      'POST /api/v1/webhooks/{id}/rotate-secret': {
        id: 'webhooksRotateSecret',
        summary:
          'A new signing secret (in this answer only); the old one also signs for gracePeriodSeconds (default 24 h, 0 for none)',
        body: webhookRotateValidator,
        ok: { 200: ref('WebhookWithSecret') },
        errors: { 404: 'webhook_not_found' },
      },
      'POST /api/v1/webhooks/{id}/test': {
        id: 'webhooksTest',
        summary:
          'Send a signed webhook.ping now (even while disabled); answers its delivery as logged',
        ok: { 200: ref('WebhookDelivery') },
        errors: { 404: 'webhook_not_found' },
      },
      'DELETE /api/v1/webhooks/{id}': {
        id: 'webhooksDelete',
        summary: 'Stop delivering to a webhook (its delivery log stays)',
        ok: { 204: null },
        errors: { 404: 'webhook_not_found' },
      },
      'GET /api/v1/webhooks/{id}/deliveries': {
        id: 'webhooksDeliveries',
        summary: 'The last 100 deliveries: status, attempts, last answer',
        ok: { 200: s.listOf(ref('WebhookDelivery')) },
        errors: { 404: 'webhook_not_found' },
      },
    },
    {
      WebhookBody: {
        description:
          'The JSON body of every webhook POST (signed in Atrium-Signature); `data` is the event payload.',
        oneOf: [
          ...webhookEventDeclarations().map(([type, declaration]) =>
            s.object(
              {
                id: s.uuid,
                type: { const: type },
                createdAt: s.dateTime,
                data: declaration.payload,
              },
              declaration.description
            )
          ),
          s.object(
            {
              id: s.uuid,
              type: { const: 'webhook.ping' },
              createdAt: s.dateTime,
              data: s.object({ webhookId: s.uuid, message: s.string }),
            },
            'A test sent by POST /api/v1/webhooks/{id}/test'
          ),
        ],
      },
      Notification: s.object({
        id: s.uuid,
        kind: s.string,
        title: s.string,
        body: s.string,
        data: s.record,
        userId: s.described(s.nullable(s.uuid), 'null: for everyone in the tenant'),
        readAt: s.described(s.nullable(s.dateTime), 'When you read it'),
        createdAt: s.dateTime,
      }),
      Webhook: s.object(webhookFields()),
      WebhookWithSecret: s.object({
        ...webhookFields(),
        secret: { type: 'string', pattern: '^whsec_' },
      }),
      WebhookDelivery: s.object({
        id: s.uuid,
        eventId: s.uuid,
        eventType: s.string,
        status: s.enum(['pending', 'delivered', 'failed']),
        attempts: s.integer,
        lastStatusCode: s.nullable(s.integer),
        lastError: s.nullable(s.string),
        lastDurationMs: s.nullable(s.integer),
        deliveredAt: s.nullable(s.dateTime),
        nextAttemptAt: s.described(s.nullable(s.dateTime), 'Only while pending'),
        createdAt: s.dateTime,
      }),
    }
  )
