import router from '@adonisjs/core/services/router'

const SystemController = () => import('#modules/system/controllers/system_controller')

export default function systemRoutes() {
  router
    .group(() => {
      router.get('/ping', [SystemController, 'ping'])
      router.get('/info', [SystemController, 'info'])
    })
    .prefix('/system')
}
