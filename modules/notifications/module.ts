import { defineModule } from '#app/modules/definition'
import routes from '#modules/notifications/routes'
import openapi from '#modules/notifications/openapi'
import { sendDueEmails } from '#modules/notifications/services/notifications'
import { deliverDueWebhooks } from '#modules/notifications/services/webhooks'

/** In-app notifications, email and signed webhooks. */
export default defineModule({
  name: 'notifications',
  routes,
  openapi,
  subscribers: () => import('#modules/notifications/subscribers'),
  jobs: [
    { name: 'notifications.send_emails', run: () => sendDueEmails() },
    { name: 'notifications.deliver_webhooks', run: () => deliverDueWebhooks() },
  ],
})
