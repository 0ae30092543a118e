import { HttpContext } from '@adonisjs/core/http'
import { Bouncer } from '@adonisjs/bouncer'
import type { AuthService } from '@adonisjs/auth/types'
import type { Principal } from '#app/auth/jwt_guard'
import { madeWithoutContainer } from '#app/http/direct_calls'
// The package declares `ctx.auth` beside the middleware this file replaces.
import type {} from '@adonisjs/auth/initialize_auth_middleware'

/**
 * `ctx.auth` and `ctx.bouncer`, made on the first read of each and kept for
 * the request. They used to be made by two router middleware for every
 * matched route, each resolved through the container per request (see
 * `runStages`); most of a request's work never reads either.
 */
export function defineContextGetters(authManager: AuthService) {
  HttpContext.getter(
    'auth',
    function (this: HttpContext) {
      return authManager.createAuthenticator(this)
    },
    true
  )
  /*
  | Acts as the authenticated principal (whose membership was checked with the
  | token). Policies are passed by class (`ctx.bouncer.with(OrderPolicy)`), so
  | there is no global policy registry for modules to edit.
  */
  HttpContext.getter(
    'bouncer',
    function (this: HttpContext) {
      return new Bouncer<Principal>(() => this.auth.use('jwt').user ?? null).setContainerResolver(
        policyMaker(this.containerResolver)
      )
    },
    true
  )
}

/*
| Bouncer asks its resolver for a new policy on every authorization. A policy
| with nothing to inject is made directly, a new one each time as before
| (the container's lookups cost ~0.8 µs; see app/http/direct_calls.ts); one
| that declares `@inject()` is still made by the container.
*/
function policyMaker(resolver: HttpContext['containerResolver']) {
  const maker = {
    make(policy: PolicyClass) {
      return madeWithoutContainer(policy) ? new policy() : resolver.make(policy)
    },
  }
  // Bouncer calls only `make` on the resolver it is given (its PolicyAuthorizer).
  return maker as unknown as HttpContext['containerResolver']
}
type PolicyClass = (new () => unknown) & { containerInjections?: unknown }

declare module '@adonisjs/core/http' {
  export interface HttpContext {
    bouncer: Bouncer<Principal>
  }
}
