import { HttpContext } from '@adonisjs/core/http'
import { Bouncer } from '@adonisjs/bouncer'
import type { AuthService } from '@adonisjs/auth/types'
import type { Principal } from '#app/auth/jwt_guard'
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
        this.containerResolver
      )
    },
    true
  )
}

declare module '@adonisjs/core/http' {
  export interface HttpContext {
    bouncer: Bouncer<Principal>
  }
}
