import type { Principal } from '#app/auth/jwt_guard'
import { ActiveTenantPolicy, MANAGERS, deny } from '#app/auth/policies'
import type Operation from '#app/operations/operation'

/**
 * Operations of the active tenant: each member sees and cancels the ones they
 * started; owners and admins see every one. Someone else's is a 404, so ids
 * confirm nothing.
 */
export default class OperationPolicy extends ActiveTenantPolicy {
  view(principal: Principal, operation: Pick<Operation, 'createdBy'>) {
    if (operation.createdBy === principal.userId || this.hasRole(principal, MANAGERS)) return true
    return deny.notFound('operation_not_found', 'No such operation.')
  }

  cancel(principal: Principal, operation: Pick<Operation, 'createdBy'>) {
    return this.view(principal, operation)
  }

  /** Listing: anyone lists their own; owners and admins see everyone's. */
  list(_principal: Principal) {
    return true
  }

  viewEveryone(principal: Principal) {
    return this.hasRole(principal, MANAGERS)
  }
}
