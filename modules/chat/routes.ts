import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'

const ConversationsController = () => import('#modules/chat/controllers/conversations_controller')

/** /api/v1/chat/… for signed-in members of the active tenant. */
export default function chatRoutes() {
  router
    .group(() => {
      router.get('/conversations', [ConversationsController, 'index'])
      router.post('/conversations', [ConversationsController, 'store'])
      router.get('/conversations/:id', [ConversationsController, 'show'])
      router.patch('/conversations/:id', [ConversationsController, 'update'])
      router.delete('/conversations/:id', [ConversationsController, 'destroy'])
    })
    .prefix('/chat')
    .use(middleware.auth())
}
