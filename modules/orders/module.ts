import { defineModule } from '#app/modules/definition'
import routes from '#modules/orders/routes'
import openapi from '#modules/orders/openapi'
import { ORDER_WEBHOOK_EVENTS } from '#modules/orders/events'

/** Orders and their saga: placed, confirmed or rejected by the inventory, cancelled, fulfilled. */
export default defineModule({
  name: 'orders',
  routes,
  openapi,
  subscribers: () => import('#modules/orders/subscribers'),
  webhookEvents: ORDER_WEBHOOK_EVENTS,
})
