import type { Principal } from '#app/auth/jwt_guard'
import { ActiveTenantPolicy, MANAGERS } from '#app/auth/policies'

/** The catalog and stock of the active tenant: members read, owners and admins change. */
export default class ItemPolicy extends ActiveTenantPolicy {
  view(_principal: Principal) {
    return true
  }

  manage(principal: Principal) {
    return this.allowRoles(principal, MANAGERS, 'manage the catalog and stock')
  }
}
