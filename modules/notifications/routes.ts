import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'

const NotificationsController = () =>
  import('#modules/notifications/controllers/notifications_controller')

export default function notificationsRoutes() {
  router
    .group(() => {
      router.get('/notifications', [NotificationsController, 'index'])
      router.post('/notifications/:id/read', [NotificationsController, 'markRead'])
      router.post('/webhooks', [NotificationsController, 'createWebhook'])
      router.get('/webhooks', [NotificationsController, 'listWebhooks'])
      router.get('/webhooks/:id', [NotificationsController, 'showWebhook'])
      router.patch('/webhooks/:id', [NotificationsController, 'updateWebhook'])
      router.delete('/webhooks/:id', [NotificationsController, 'deleteWebhook'])
      router.post('/webhooks/:id/rotate-secret', [NotificationsController, 'rotateWebhookSecret'])
      router.post('/webhooks/:id/test', [NotificationsController, 'testWebhook'])
      router.get('/webhooks/:id/deliveries', [NotificationsController, 'webhookDeliveries'])
    })
    .use(middleware.auth())
}
