import type { Principal } from '#app/auth/jwt_guard'
import { ActiveTenantPolicy, MANAGERS } from '#app/auth/policies'

/**
 * Chat is for every member of the active tenant, whatever their role (read
 * from the database on this request; ActiveTenantPolicy answers 403 without
 * an active tenant and 404 to a former member). A conversation, its messages
 * and its generations are their user's alone: the services find them only
 * among the caller's own, so someone else's id is the same 404 as a missing
 * one and confirms nothing. Quotas and chat access are set by owners and
 * admins; admin views of other people's conversations come as their own,
 * audited, actions.
 */
export default class ConversationPolicy extends ActiveTenantPolicy {
  use(_principal: Principal) {
    return true
  }

  administer(principal: Principal) {
    return this.allowRoles(principal, MANAGERS, 'administer chat')
  }
}
