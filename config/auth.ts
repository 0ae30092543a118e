import { defineConfig } from '@adonisjs/auth'
import type { InferAuthEvents, InferAuthenticators, Authenticators } from '@adonisjs/auth/types'
import type { HttpContext } from '@adonisjs/core/http'
import { JwtGuard } from '#app/auth/jwt_guard'
import { principalResolver } from '#modules/identity/index'

const authConfig = defineConfig({
  default: 'jwt',
  guards: {
    jwt: (ctx: HttpContext) => new JwtGuard(ctx, principalResolver),
  },
})

export default authConfig

declare module '@adonisjs/auth/types' {
  export interface Authenticators extends InferAuthenticators<typeof authConfig> {}
}
declare module '@adonisjs/core/types' {
  interface EventsList extends InferAuthEvents<Authenticators> {}
}
