import type { Principal } from '#app/auth/jwt_guard'
import { ActiveTenantPolicy, MANAGERS } from '#app/auth/policies'

/** Webhooks send the tenant's events to outside URLs: owners and admins only. */
export default class WebhookPolicy extends ActiveTenantPolicy {
  manage(principal: Principal) {
    return this.allowRoles(principal, MANAGERS, 'manage webhooks')
  }
}
