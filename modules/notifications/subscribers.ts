/*
| Webhooks for every event a module declared webhook-able (webhookEvents in
| its module.ts): in the event's unit of work, through the inbox (so once per
| event), one delivery per subscribed endpoint, sent by the module's job.
*/
import { subscribe } from '#app/messaging/subscribers'
import type { EventType } from '#app/messaging/types'
import { webhookEventTypes } from '#app/messaging/webhook_events'
import { webhooks } from '#modules/notifications/services/webhooks'

for (const type of webhookEventTypes()) {
  subscribe(
    type as EventType,
    `notifications.webhook_${type.replaceAll('.', '_')}`,
    async (event, trx) => {
      await webhooks.fanOut(trx, event.tenantId!, event)
    },
    // It reads endpoints and inserts deliveries, locking no row: its batches may run side by side.
    { concurrentBatches: true }
  )
}
