import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'

const OrdersController = () => import('#modules/orders/controllers/orders_controller')

export default function ordersRoutes() {
  router
    .group(() => {
      router.post('/', [OrdersController, 'store']).use(middleware.idempotency({ required: true }))
      router.get('/', [OrdersController, 'index'])
      router.get('/:id', [OrdersController, 'show'])
      router.post('/:id/cancel', [OrdersController, 'cancel'])
      router.post('/:id/fulfil', [OrdersController, 'fulfil'])
    })
    .prefix('/orders')
    .use(middleware.auth())
}
