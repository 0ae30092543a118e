import type { TenantActor } from '#app/auth/policies'
import { paginate, type PageRequest } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import Notification from '#modules/notifications/models/notification'
import { inbox } from '#modules/notifications/services/notifications'
import { sendNow, webhooks } from '#modules/notifications/services/webhooks'

/**
 * What members and admins do through the API, each its own unit of work in
 * the actor's tenant (NotificationPolicy and WebhookPolicy decide who may).
 */
export const notificationCenter = {
  /** The actor's notifications (theirs, and the tenant-wide ones), newest first. */
  list(actor: TenantActor, filters: { unread?: boolean } & PageRequest) {
    return inActiveTenant(
      actor,
      (trx) => {
        const n = Notification.table
        const query = Notification.query({ client: trx })
          .leftJoin('notifications_reads as r', (join) =>
            join.on('r.notification_id', `${n}.id`).andOnVal('r.user_id', actor.userId)
          )
          .where(`${n}.tenant_id`, actor.tenantId)
          .where((scope) => scope.whereNull(`${n}.user_id`).orWhere(`${n}.user_id`, actor.userId))
          .select(`${n}.*`, 'r.created_at as read_at')
        if (filters.unread) query.whereNull('r.id')
        return paginate(query, filters, { idColumn: `${n}.id` }, (notification) =>
          notification.serialize()
        )
      },
      { readOnly: true }
    )
  },

  async markRead(actor: TenantActor, id: string) {
    const notification = await inActiveTenant(actor, (trx) => inbox.markRead(trx, id, actor.userId))
    return notification.serialize()
  },

  createWebhook(
    actor: TenantActor,
    input: { url: string; eventTypes: string[]; description?: string | null }
  ) {
    return inActiveTenant(actor, (trx, tenantId) => webhooks.create(trx, tenantId, input))
  },

  listWebhooks(actor: TenantActor) {
    return inActiveTenant(actor, (trx) => webhooks.list(trx), { readOnly: true })
  },

  showWebhook(actor: TenantActor, id: string) {
    return inActiveTenant(actor, (trx) => webhooks.get(trx, id), { readOnly: true })
  },

  updateWebhook(
    actor: TenantActor,
    id: string,
    input: { url?: string; eventTypes?: string[]; description?: string | null; enabled?: boolean }
  ) {
    return inActiveTenant(actor, (trx) => webhooks.update(trx, id, input))
  },

  rotateWebhookSecret(actor: TenantActor, id: string, gracePeriodSeconds?: number) {
    return inActiveTenant(actor, (trx) => webhooks.rotateSecret(trx, id, gracePeriodSeconds))
  },

  /**
   * A signed `webhook.ping`: logged in one unit of work, sent outside any
   * (the receiver may be slow), and its outcome read back from the log.
   */
  async testWebhook(actor: TenantActor, id: string) {
    const deliveryId = await inActiveTenant(actor, (trx, tenantId) =>
      webhooks.queuePing(trx, tenantId, id)
    )
    await sendNow(deliveryId)
    return inActiveTenant(actor, (trx) => webhooks.delivery(trx, deliveryId), { readOnly: true })
  },

  deleteWebhook(actor: TenantActor, id: string) {
    return inActiveTenant(actor, (trx) => webhooks.remove(trx, id))
  },

  webhookDeliveries(actor: TenantActor, id: string) {
    return inActiveTenant(actor, (trx) => webhooks.deliveries(trx, id), { readOnly: true })
  },
}
