import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'

const ItemsController = () => import('#modules/inventory/controllers/items_controller')

export default function inventoryRoutes() {
  router
    .group(() => {
      router.get('/items', [ItemsController, 'index'])
      router.post('/items', [ItemsController, 'store'])
      router.get('/items/:sku', [ItemsController, 'show'])
      router.patch('/items/:sku', [ItemsController, 'update'])
      router.post('/items/:sku/adjustments', [ItemsController, 'adjust'])
      router.get('/items/:sku/ledger', [ItemsController, 'ledger'])
      router.post('/imports', [ItemsController, 'import'])
    })
    .prefix('/inventory')
    .use(middleware.auth())
}
