import { symbols } from '@adonisjs/auth'
import type { HttpContext } from '@adonisjs/core/http'
import type { AuthClientResponse, GuardContract } from '@adonisjs/auth/types'
import { ProblemException } from '#app/http/problem'

/** A role inside one tenant (platform superadmin is a flag on the user, not a membership role). */
export type TenantRole = 'owner' | 'admin' | 'agent' | 'member'

/** The caller's membership in their active tenant, read from the database on this request. */
export interface Membership {
  tenantId: string
  role: TenantRole
}

/** Who is calling, as every module sees it after authentication. */
export interface Principal {
  userId: string
  email: string
  /** The tenant the token was issued for (`tid`); membership says whether it still holds. */
  tenantId: string | null
  /**
   * Live membership in `tenantId`, joined into the token check: null once the
   * user was removed, and the current role after a demotion. Authorization
   * uses this, never the role claims inside the token (a hint at most).
   */
  membership: Membership | null
  isSuperadmin: boolean
  tokenId: string
  sessionId: string
  expiresAt: number
}

/**
 * Verifies a bearer token and returns the principal, or null when the token
 * is invalid, expired, revoked or its user disabled. Provided by the identity
 * module; the kernel only knows this shape.
 */
export interface PrincipalResolver {
  resolve(token: string): Promise<Principal | null>
}

/**
 * @adonisjs/auth guard for `Authorization: Bearer <JWT>`. Every failure is the
 * same 401 problem, so callers learn nothing about why a token was refused.
 */
export class JwtGuard implements GuardContract<Principal> {
  declare [symbols.GUARD_KNOWN_EVENTS]: {}
  readonly driverName = 'jwt' as const

  user?: Principal
  isAuthenticated = false
  authenticationAttempted = false

  constructor(
    private ctx: HttpContext,
    private resolver: PrincipalResolver
  ) {}

  async authenticate(): Promise<Principal> {
    if (this.authenticationAttempted) return this.getUserOrFail()
    this.authenticationAttempted = true

    const header = this.ctx.request.header('authorization') ?? ''
    const match = /^Bearer ([A-Za-z0-9._~+/=-]{10,4096})$/.exec(header)
    const principal = match ? await this.resolver.resolve(match[1]) : null
    if (!principal) throw unauthenticated()

    this.user = principal
    this.isAuthenticated = true
    // Idempotency keys are scoped to the user *in* a tenant: a replay never crosses tenants.
    this.ctx.principal = `user:${principal.userId}/tenant:${principal.tenantId ?? 'none'}`
    return principal
  }

  async check(): Promise<boolean> {
    try {
      await this.authenticate()
      return true
    } catch {
      return false
    }
  }

  getUserOrFail(): Principal {
    if (!this.user) throw unauthenticated()
    return this.user
  }

  async authenticateAsClient(): Promise<AuthClientResponse> {
    throw new Error('JwtGuard: tests log in through the API and send the bearer token')
  }
}

function unauthenticated() {
  return new ProblemException(
    401,
    'unauthenticated',
    'A valid bearer access token is required.',
    undefined,
    {
      'WWW-Authenticate': 'Bearer realm="atrium"',
    }
  )
}

/** The authenticated principal of a request that went through `middleware.auth()`. */
export function principalOf(ctx: HttpContext): Principal {
  return ctx.auth.use('jwt').getUserOrFail()
}
