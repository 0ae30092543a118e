import { defineModule } from '#app/modules/definition'
import routes from '#modules/notifications/routes'
import openapi from '#modules/notifications/openapi'
import {
  emailsNextDueMs,
  SEND_EMAILS,
  sendDueEmails,
} from '#modules/notifications/services/notifications'
import {
  DELIVER_WEBHOOKS,
  deliverDueWebhooks,
  webhooksNextDueMs,
} from '#modules/notifications/services/webhooks'

/** In-app notifications, email and signed webhooks. */
export default defineModule({
  name: 'notifications',
  routes,
  openapi,
  subscribers: () => import('#modules/notifications/subscribers'),
  jobs: [
    { name: SEND_EMAILS, run: () => sendDueEmails(), nextDueMs: emailsNextDueMs },
    { name: DELIVER_WEBHOOKS, run: () => deliverDueWebhooks(), nextDueMs: webhooksNextDueMs },
  ],
})
