import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'

/**
 * Requires a valid bearer access token (`.use(middleware.auth())`). A plain
 * function, which AdonisJS runs without the container: every authenticated
 * request passes through it (see `runStages`).
 */
export async function authenticate(ctx: HttpContext, next: NextFn) {
  // use().authenticate() keeps the guard's own 401 problem (authenticateUsing would rewrap it).
  await ctx.auth.use('jwt').authenticate()
  return next()
}
