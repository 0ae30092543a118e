import vine from '@vinejs/vine'
import { pageFields } from '#app/http/pagination'
import { webhookEventTypes } from '#app/messaging/webhook_events'

export const webhookCreateValidator = vine.compile(
  vine.object({
    // Checked in full (scheme, credentials) by checkWebhookUrl, with a clear reason.
    url: vine.string().trim().maxLength(2000),
    // The types other modules declared webhook-able (read when validating, not at import).
    eventTypes: vine
      .array(vine.enum(() => webhookEventTypes()))
      .minLength(1)
      .distinct(),
    description: vine.string().trim().maxLength(200).nullable().optional(),
  })
)

export const webhookUpdateValidator = vine.compile(
  vine.object({
    url: vine.string().trim().maxLength(2000).optional(),
    eventTypes: vine
      .array(vine.enum(() => webhookEventTypes()))
      .minLength(1)
      .distinct()
      .optional(),
    description: vine.string().trim().maxLength(200).nullable().optional(),
    enabled: vine.boolean({ strict: true }).optional(),
  })
)

export const webhookRotateValidator = vine.compile(
  vine.object({
    // Up to a week: long enough for a change process, short enough that an old secret dies.
    gracePeriodSeconds: vine
      .number()
      .withoutDecimals()
      .range([0, 7 * 24 * 3600])
      .optional(),
  })
)

export const notificationListValidator = vine.compile(
  vine.object({
    unread: vine.boolean().optional(),
    ...pageFields,
  })
)
