import router from '@adonisjs/core/services/router'
import { middleware } from '#start/kernel'

const AuthController = () => import('#modules/identity/controllers/auth_controller')
const JwksController = () => import('#modules/identity/controllers/jwks_controller')
const TenantsController = () => import('#modules/identity/controllers/tenants_controller')
const MembersController = () => import('#modules/identity/controllers/members_controller')
const AdminController = () => import('#modules/identity/controllers/admin_controller')
const InvitationsController = () => import('#modules/identity/controllers/invitations_controller')

export default function identityRoutes() {
  router
    .group(() => {
      router.post('/register', [AuthController, 'register'])
      router.post('/login', [AuthController, 'login'])
      router.post('/refresh', [AuthController, 'refresh'])
      router.post('/verify-email', [AuthController, 'verifyEmail'])
      router
        .post('/verify-email/resend', [AuthController, 'resendVerification'])
        .use(middleware.auth())
      router.post('/logout', [AuthController, 'logout']).use(middleware.auth())
      router.get('/me', [AuthController, 'me']).use(middleware.auth())
      router.post('/switch-tenant', [AuthController, 'switchTenant']).use(middleware.auth())
    })
    .prefix('/auth')

  router
    .group(() => {
      router.get('/', [TenantsController, 'index'])
      router.post('/', [TenantsController, 'store'])
      router.get('/:id', [TenantsController, 'show'])
      router.patch('/:id', [TenantsController, 'update'])
      router.get('/:id/audit', [TenantsController, 'audit'])
      router.get('/:id/members', [MembersController, 'index'])
      router.post('/:id/members', [MembersController, 'store'])
      router.patch('/:id/members/:userId', [MembersController, 'update'])
      router.delete('/:id/members/:userId', [MembersController, 'destroy'])
      router.get('/:id/invitations', [InvitationsController, 'index'])
      router.post('/:id/invitations', [InvitationsController, 'store'])
      router.delete('/:id/invitations/:invitationId', [InvitationsController, 'destroy'])
    })
    .prefix('/tenants')
    .use(middleware.auth())

  router.post('/invitations/accept', [InvitationsController, 'accept']).use(middleware.auth())

  router
    .group(() => {
      router.get('/users', [AdminController, 'users'])
      router.patch('/users/:id', [AdminController, 'updateUser'])
      router.get('/tenants', [AdminController, 'tenants'])
    })
    .prefix('/admin')
    .use(middleware.auth())
}

/** Routes outside /api/v1. */
export function rootRoutes() {
  router.get('/.well-known/jwks.json', [JwksController, 'show'])
}
