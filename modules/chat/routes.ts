import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'

const ConversationsController = () => import('#modules/chat/controllers/conversations_controller')
const MessagesController = () => import('#modules/chat/controllers/messages_controller')
const GenerationsController = () => import('#modules/chat/controllers/generations_controller')
const QuotasController = () => import('#modules/chat/controllers/quotas_controller')
const SearchController = () => import('#modules/chat/controllers/search_controller')
const AssistantsController = () => import('#modules/chat/controllers/assistants_controller')
const ChatAdminController = () => import('#modules/chat/controllers/chat_admin_controller')

/** /api/v1/chat/… for signed-in members of the active tenant. */
export default function chatRoutes() {
  router
    .group(() => {
      router.get('/conversations', [ConversationsController, 'index'])
      router.post('/conversations', [ConversationsController, 'store'])
      router.get('/conversations/:id', [ConversationsController, 'show'])
      router.patch('/conversations/:id', [ConversationsController, 'update'])
      router.delete('/conversations/:id', [ConversationsController, 'destroy'])

      router.get('/conversations/:id/messages', [MessagesController, 'index'])
      router.post('/conversations/:id/messages', [MessagesController, 'store'])
      router.get('/conversations/:id/tree', [MessagesController, 'tree'])
      router.put('/conversations/:id/active-leaf', [MessagesController, 'activeLeaf'])
      router.post('/conversations/:id/fork', [MessagesController, 'fork'])
      router.post('/conversations/:id/messages/:messageId/regenerate', [
        MessagesController,
        'regenerate',
      ])

      router.get('/generations/:id', [GenerationsController, 'show'])
      router.get('/generations/:id/stream', [GenerationsController, 'stream'])
      router.post('/generations/:id/cancel', [GenerationsController, 'cancel'])

      router.get('/assistants', [AssistantsController, 'index'])
      router.post('/assistants', [AssistantsController, 'store'])
      router.get('/assistants/:id', [AssistantsController, 'show'])
      router.patch('/assistants/:id', [AssistantsController, 'update'])
      router.delete('/assistants/:id', [AssistantsController, 'destroy'])
      router.post('/assistants/:id/fork', [AssistantsController, 'fork'])
      router.put('/assistants/:id/favourite', [AssistantsController, 'favourite'])
      router.delete('/assistants/:id/favourite', [AssistantsController, 'unfavourite'])
      router.put('/admin/assistants/:id/featured', [AssistantsController, 'feature'])
      router.get('/explore', [AssistantsController, 'explore'])
      router.get('/explore/categories', [AssistantsController, 'categories'])

      router.get('/search', [SearchController, 'index'])
      router.get('/me/quota', [QuotasController, 'mine'])
      router.get('/me/usage', [ChatAdminController, 'myUsage'])
      router.get('/admin/usage', [ChatAdminController, 'usage'])
      router.get('/admin/settings', [ChatAdminController, 'settings'])
      router.put('/admin/settings', [ChatAdminController, 'saveSettings'])
      router.get('/admin/users/:userId/conversations', [ChatAdminController, 'userConversations'])
      router.get('/admin/conversations/:id', [ChatAdminController, 'conversation'])
      router.get('/admin/quotas', [QuotasController, 'index'])
      router.put('/admin/quotas/default', [QuotasController, 'updateDefault'])
      router.put('/admin/quotas/users/:userId', [QuotasController, 'updateUser'])
    })
    .prefix('/chat')
    .use(middleware.auth())
}
