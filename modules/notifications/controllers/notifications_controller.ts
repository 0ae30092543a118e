import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import { paginate } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
import NotificationPolicy from '#modules/notifications/policies/notification_policy'
import WebhookPolicy from '#modules/notifications/policies/webhook_policy'
import {
  inbox,
  presentNotification,
  type NotificationRow,
} from '#modules/notifications/services/notifications'
import { webhooks } from '#modules/notifications/services/webhooks'
import {
  notificationListValidator,
  webhookCreateValidator,
} from '#modules/notifications/validators/webhooks'

export default class NotificationsController {
  /** The caller's notifications in the active tenant (theirs, and the tenant-wide ones), newest first. */
  async index(ctx: HttpContext) {
    await ctx.bouncer.with(NotificationPolicy).authorize('view')
    const { unread, ...page } = await notificationListValidator.validate(ctx.request.qs())
    const actor = actorOf(ctx)
    return inActiveTenant(actor, (trx) => {
      const query = trx
        .from('notifications_notifications')
        .where((scope) => scope.whereNull('user_id').orWhere('user_id', actor.userId))
      if (unread) query.whereNull('read_at')
      return paginate<NotificationRow, ReturnType<typeof presentNotification>>(
        query,
        page,
        {},
        presentNotification
      )
    })
  }

  async markRead(ctx: HttpContext) {
    await ctx.bouncer.with(NotificationPolicy).authorize('view')
    const actor = actorOf(ctx)
    return inActiveTenant(actor, (trx) => inbox.markRead(trx, ctx.params.id, actor.userId))
  }

  async createWebhook(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(webhookCreateValidator)
    const created = await inActiveTenant(actorOf(ctx), (trx, tenantId) =>
      webhooks.create(trx, tenantId, input)
    )
    return ctx.response.created(created)
  }

  async listWebhooks(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    return { data: await inActiveTenant(actorOf(ctx), (trx) => webhooks.list(trx)) }
  }

  async showWebhook(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    return inActiveTenant(actorOf(ctx), (trx) => webhooks.get(trx, ctx.params.id))
  }

  async deleteWebhook(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    await inActiveTenant(actorOf(ctx), (trx) => webhooks.remove(trx, ctx.params.id))
    return ctx.response.noContent()
  }

  async webhookDeliveries(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    return {
      data: await inActiveTenant(actorOf(ctx), (trx) => webhooks.deliveries(trx, ctx.params.id)),
    }
  }
}
