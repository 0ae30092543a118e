import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'

/** Requires a valid bearer access token (`.use(middleware.auth())`). */
export default class AuthMiddleware {
  async handle(ctx: HttpContext, next: NextFn) {
    // use().authenticate() keeps the guard's own 401 problem (authenticateUsing would rewrap it).
    await ctx.auth.use('jwt').authenticate()
    return next()
  }
}
