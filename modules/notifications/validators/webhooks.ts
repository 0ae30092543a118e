import vine from '@vinejs/vine'
import { pageFields } from '#app/http/pagination'
import { WEBHOOK_EVENT_TYPES } from '#modules/notifications/services/webhooks'

export const webhookCreateValidator = vine.compile(
  vine.object({
    // Checked in full (scheme, credentials) by checkWebhookUrl, with a clear reason.
    url: vine.string().trim().maxLength(2000),
    eventTypes: vine.array(vine.enum(WEBHOOK_EVENT_TYPES)).minLength(1).distinct(),
    description: vine.string().trim().maxLength(200).nullable().optional(),
  })
)

export const notificationListValidator = vine.compile(
  vine.object({
    unread: vine.boolean().optional(),
    ...pageFields,
  })
)
