import { BasePolicy } from '@adonisjs/bouncer'
import type { Principal } from '#app/auth/jwt_guard'
import type { MembershipRole } from '#modules/identity/services/accounts'

/** The caller's membership in the tenant being acted on (non-members never reach a policy: they get 404). */
export interface ActingMembership {
  userId: string
  role: MembershipRole
}

const MANAGERS: MembershipRole[] = ['owner', 'admin']

/**
 * Who may do what inside a tenant. Owners do everything; admins manage the
 * tenant and its non-owner members; agents and members only read.
 */
export default class TenantPolicy extends BasePolicy {
  update(_principal: Principal, acting: ActingMembership) {
    return MANAGERS.includes(acting.role)
  }

  viewAudit(_principal: Principal, acting: ActingMembership) {
    return MANAGERS.includes(acting.role)
  }

  viewInvitations(_principal: Principal, acting: ActingMembership) {
    return MANAGERS.includes(acting.role)
  }

  /** Adding a member, or giving someone a role: only an owner can make owners. */
  grant(_principal: Principal, acting: ActingMembership, role: MembershipRole) {
    if (role === 'owner') return acting.role === 'owner'
    return MANAGERS.includes(acting.role)
  }

  /** Changing or removing a member: only an owner touches an owner. */
  changeMember(_principal: Principal, acting: ActingMembership, target: ActingMembership) {
    if (target.role === 'owner') return acting.role === 'owner'
    return MANAGERS.includes(acting.role)
  }

  /** Anyone may leave a tenant (the last owner is still stopped by the last-owner rule). */
  leave(_principal: Principal, acting: ActingMembership, target: ActingMembership) {
    return target.userId === acting.userId
  }
}
