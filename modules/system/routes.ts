import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'

const SystemController = () => import('#modules/system/controllers/system_controller')

export default function systemRoutes() {
  router
    .group(() => {
      router.get('/ping', [SystemController, 'ping'])
      router.get('/info', [SystemController, 'info']).use(middleware.operatorOnly())
    })
    .prefix('/system')
}
