/*
| Webhooks for every event a module declared webhook-able (webhookEvents in
| its module.ts): in the event's unit of work, through the inbox (so once per
| event), one delivery per subscribed endpoint, sent by the module's job.
| Every order, reply and publication passes through here, so a batch of
| events reads the endpoints once and inserts its deliveries in one statement.
*/
import { subscribeBatch } from '#app/messaging/subscribers'
import type { EventType } from '#app/messaging/types'
import { webhookEventTypes } from '#app/messaging/webhook_events'
import { webhooks } from '#modules/notifications/services/webhooks'

for (const type of webhookEventTypes()) {
  subscribeBatch(
    type as EventType,
    `notifications.webhook_${type.replaceAll('.', '_')}`,
    async (events, trx) => {
      await webhooks.fanOut(trx, events[0].tenantId!, events)
    },
    // It reads endpoints and inserts deliveries, locking no row: its batches may run side by side.
    { concurrentBatches: true }
  )
}
