import type { Principal } from '#app/auth/jwt_guard'
import { ActiveTenantPolicy } from '#app/auth/policies'

/** Every member reads their own notifications (and the tenant-wide ones) and marks them read. */
export default class NotificationPolicy extends ActiveTenantPolicy {
  view(_principal: Principal) {
    return true
  }
}
