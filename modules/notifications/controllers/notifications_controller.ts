import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import NotificationPolicy from '#modules/notifications/policies/notification_policy'
import WebhookPolicy from '#modules/notifications/policies/webhook_policy'
import { notificationCenter } from '#modules/notifications/services/center'
import {
  notificationListValidator,
  webhookCreateValidator,
  webhookRotateValidator,
  webhookUpdateValidator,
} from '#modules/notifications/validators/webhooks'

export default class NotificationsController {
  /** The caller's notifications in the active tenant (theirs, and the tenant-wide ones), newest first. */
  async index(ctx: HttpContext) {
    await ctx.bouncer.with(NotificationPolicy).authorize('view')
    const filters = await notificationListValidator.validate(ctx.request.qs())
    return notificationCenter.list(actorOf(ctx), filters)
  }

  async markRead(ctx: HttpContext) {
    await ctx.bouncer.with(NotificationPolicy).authorize('view')
    return notificationCenter.markRead(actorOf(ctx), ctx.params.id)
  }

  async createWebhook(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(webhookCreateValidator)
    return ctx.response.created(await notificationCenter.createWebhook(actorOf(ctx), input))
  }

  async listWebhooks(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    return { data: await notificationCenter.listWebhooks(actorOf(ctx)) }
  }

  async showWebhook(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    return notificationCenter.showWebhook(actorOf(ctx), ctx.params.id)
  }

  async updateWebhook(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    const input = await ctx.request.validateUsing(webhookUpdateValidator)
    return notificationCenter.updateWebhook(actorOf(ctx), ctx.params.id, input)
  }

  async rotateWebhookSecret(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    const { gracePeriodSeconds } = await ctx.request.validateUsing(webhookRotateValidator)
    return notificationCenter.rotateWebhookSecret(actorOf(ctx), ctx.params.id, gracePeriodSeconds)
  }

  /** Sends a signed webhook.ping now and answers with its delivery, whatever the receiver said. */
  async testWebhook(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    return notificationCenter.testWebhook(actorOf(ctx), ctx.params.id)
  }

  async deleteWebhook(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    await notificationCenter.deleteWebhook(actorOf(ctx), ctx.params.id)
    return ctx.response.noContent()
  }

  async webhookDeliveries(ctx: HttpContext) {
    await ctx.bouncer.with(WebhookPolicy).authorize('manage')
    return { data: await notificationCenter.webhookDeliveries(actorOf(ctx), ctx.params.id) }
  }
}
