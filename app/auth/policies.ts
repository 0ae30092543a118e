import { AuthorizationResponse, BasePolicy } from '@adonisjs/bouncer'
import type { HttpContext } from '@adonisjs/core/http'
import type { Principal, TenantRole } from '#app/auth/jwt_guard'
import { ProblemException } from '#app/http/problem'

/**
 * A refusal that knows which problem it becomes: policies say 404 when the
 * caller must not learn that something exists, 403 when they may.
 */
export class Denial extends AuthorizationResponse {
  constructor(
    readonly problemStatus: 403 | 404,
    readonly problemCode: string,
    detail: string
  ) {
    super(false)
    this.status = problemStatus
    this.message = detail
  }
}

export const deny = {
  forbidden: (detail: string, code = 'forbidden') => new Denial(403, code, detail),
  notFound: (code: string, detail: string) => new Denial(404, code, detail),
}

export const MANAGERS: readonly TenantRole[] = ['owner', 'admin']
export const STAFF: readonly TenantRole[] = ['owner', 'admin', 'agent']

const noActiveTenant = () =>
  deny.forbidden('Switch to a tenant first: this resource belongs to a tenant.', 'no_active_tenant')
const notAMember = () => deny.notFound('tenant_not_found', 'No such tenant.')

/**
 * Base of every policy over resources of the caller's active tenant. Runs
 * before each action: no active tenant is a 403, and a token whose membership
 * is gone (removed from the tenant since it was issued) is a 404 — the tenant
 * no longer exists for them. Actions then decide on `principal.membership.role`,
 * which was read from the database on this request.
 */
export abstract class ActiveTenantPolicy extends BasePolicy {
  before(principal: Principal | null) {
    if (!principal) return undefined
    if (!principal.tenantId) return noActiveTenant()
    if (!principal.membership || principal.membership.tenantId !== principal.tenantId)
      return notAMember()
    return undefined
  }

  /** True when the caller's live role is one of `roles`. */
  protected hasRole(principal: Principal, roles: readonly TenantRole[]) {
    return principal.membership !== null && roles.includes(principal.membership.role)
  }

  /** A 403 naming who may, when the caller's role is not among them. */
  protected allowRoles(principal: Principal, roles: readonly TenantRole[], action: string) {
    if (this.hasRole(principal, roles)) return true
    return deny.forbidden(`Only ${roles.join(', ')} may ${action}.`)
  }
}

/** Who acts in a tenant once a policy allowed it: what services take instead of an HttpContext. */
export interface TenantActor {
  userId: string
  tenantId: string
  role: TenantRole
}

/**
 * The authorized caller as a tenant actor. Throws the same problems as the
 * policies' `before`, so a route that forgot its policy still cannot act in
 * a tenant the caller left.
 */
export function tenantActor(principal: Principal): TenantActor {
  if (!principal.tenantId) {
    throw new ProblemException(403, 'no_active_tenant', 'Switch to a tenant first.')
  }
  const membership = principal.membership
  if (!membership || membership.tenantId !== principal.tenantId) {
    throw new ProblemException(404, 'tenant_not_found', 'No such tenant.')
  }
  return { userId: principal.userId, tenantId: membership.tenantId, role: membership.role }
}

/** `tenantActor` of the request's authenticated principal. */
export function actorOf(ctx: HttpContext): TenantActor {
  return tenantActor(ctx.auth.use('jwt').getUserOrFail())
}
