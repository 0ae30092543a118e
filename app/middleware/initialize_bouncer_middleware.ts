import { Bouncer } from '@adonisjs/bouncer'
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import type { Principal } from '#app/auth/jwt_guard'

/**
 * `ctx.bouncer` for the request, acting as the authenticated principal (whose
 * membership was read from the database with the token check). Policies are
 * passed by class (`ctx.bouncer.with(OrderPolicy)`), so there is no global
 * policy registry for modules to edit.
 */
export default class InitializeBouncerMiddleware {
  async handle(ctx: HttpContext, next: NextFn) {
    ctx.bouncer = new Bouncer<Principal>(
      () => ctx.auth.use('jwt').user ?? null
    ).setContainerResolver(ctx.containerResolver)
    return next()
  }
}

declare module '@adonisjs/core/http' {
  export interface HttpContext {
    bouncer: Bouncer<Principal>
  }
}
