import type { Principal } from '#app/auth/jwt_guard'
import { ActiveTenantPolicy, STAFF } from '#app/auth/policies'

/**
 * Orders of the active tenant. Every member may place and read orders;
 * cancelling and fulfilling change stock and money, so staff only.
 */
export default class OrderPolicy extends ActiveTenantPolicy {
  view(_principal: Principal) {
    return true
  }

  place(_principal: Principal) {
    return true
  }

  cancel(principal: Principal) {
    return this.allowRoles(principal, STAFF, 'cancel orders')
  }

  fulfil(principal: Principal) {
    return this.allowRoles(principal, STAFF, 'fulfil orders')
  }
}
