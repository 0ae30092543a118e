import type { HttpContext } from '@adonisjs/core/http'
import { principalOf } from '#app/auth/jwt_guard'
import { paginate } from '#app/http/pagination'
import { inActiveTenant } from '#app/tenancy/active_tenant'
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

const MANAGERS = { roles: ['owner', 'admin'], action: 'manage webhooks' }

export default class NotificationsController {
  /** The caller's notifications in the active tenant (theirs, and the tenant-wide ones), newest first. */
  async index(ctx: HttpContext) {
    const { unread } = await notificationListValidator.validate(ctx.request.qs())
    const principal = principalOf(ctx)
    return inActiveTenant(principal, (trx) => {
      const query = trx
        .from('notifications_notifications')
        .where((scope) => scope.whereNull('user_id').orWhere('user_id', principal.userId))
      if (unread) query.whereNull('read_at')
      return paginate<NotificationRow, ReturnType<typeof presentNotification>>(
        ctx,
        query,
        {
          sortColumn: 'created_at',
          sortValue: (row) => new Date(row.created_at).toISOString(),
          idValue: (row) => row.id,
        },
        presentNotification
      )
    })
  }

  async markRead(ctx: HttpContext) {
    const principal = principalOf(ctx)
    return inActiveTenant(principal, (trx) => inbox.markRead(trx, ctx.params.id, principal.userId))
  }

  async createWebhook(ctx: HttpContext) {
    const input = await ctx.request.validateUsing(webhookCreateValidator)
    const created = await inActiveTenant(
      principalOf(ctx),
      (trx, tenantId) => webhooks.create(trx, tenantId, input),
      MANAGERS
    )
    return ctx.response.created(created)
  }

  async listWebhooks(ctx: HttpContext) {
    return { data: await inActiveTenant(principalOf(ctx), (trx) => webhooks.list(trx), MANAGERS) }
  }

  async showWebhook(ctx: HttpContext) {
    return inActiveTenant(principalOf(ctx), (trx) => webhooks.get(trx, ctx.params.id), MANAGERS)
  }

  async deleteWebhook(ctx: HttpContext) {
    await inActiveTenant(principalOf(ctx), (trx) => webhooks.remove(trx, ctx.params.id), MANAGERS)
    return ctx.response.noContent()
  }

  async webhookDeliveries(ctx: HttpContext) {
    return {
      data: await inActiveTenant(
        principalOf(ctx),
        (trx) => webhooks.deliveries(trx, ctx.params.id),
        MANAGERS
      ),
    }
  }
}
