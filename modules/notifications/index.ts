/*
| Public face of notifications: the webhook signature scheme (for docs and
| receivers' tests). Other modules reach notifications through events.
*/
export {
  sign as signWebhookBody,
  WEBHOOK_EVENT_TYPES,
} from '#modules/notifications/services/webhooks'
