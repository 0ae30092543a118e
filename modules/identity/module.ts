import { defineModule } from '#app/modules/definition'
import routes, { rootRoutes } from '#modules/identity/routes'
import openapi from '#modules/identity/openapi'
import { purgeTokens } from '#modules/identity/jobs/purge_tokens'

/** Users, tenants, memberships and roles, tokens and their signing keys. */
export default defineModule({
  name: 'identity',
  routes,
  rootRoutes,
  openapi,
  maintenance: [purgeTokens],
})
