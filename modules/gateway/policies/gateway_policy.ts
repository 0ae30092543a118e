import type { Principal } from '#app/auth/jwt_guard'
import { ActiveTenantPolicy, MANAGERS } from '#app/auth/policies'

/**
 * Gateway settings of the active tenant (providers, model aliases, API keys,
 * limits, usage) hold secrets and spend money: owners and admins only.
 */
export default class GatewayPolicy extends ActiveTenantPolicy {
  manage(principal: Principal) {
    return this.allowRoles(principal, MANAGERS, 'manage the gateway')
  }
}
