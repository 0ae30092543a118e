import type { HttpContext } from '@adonisjs/core/http'
import { principalOf } from '#app/auth/jwt_guard'
import { accounts, normalizeEmail } from '#modules/identity/services/accounts'
import { authLimits } from '#modules/identity/services/auth_limits'
import {
  loginValidator,
  refreshValidator,
  registerValidator,
  switchTenantValidator,
  verifyEmailValidator,
} from '#modules/identity/validators/auth'
import { emailVerification } from '#modules/identity/services/email_verification'

export default class AuthController {
  async register({ request, response }: HttpContext) {
    await authLimits.beforeRegister(request.ip())
    const input = await request.validateUsing(registerValidator)
    return response.created(await accounts.register(input))
  }

  async login({ request, response }: HttpContext) {
    const input = await request.validateUsing(loginValidator)
    const session = await authLimits.login(request.ip(), normalizeEmail(input.email), () =>
      accounts.login(input)
    )
    return response.ok(session)
  }

  async refresh({ request, response }: HttpContext) {
    const { refreshToken } = await request.validateUsing(refreshValidator)
    return response.ok(await accounts.refresh(refreshToken))
  }

  /** Public: the code arrives by mail, and the reader may not be signed in on that device. */
  async verifyEmail({ request, response }: HttpContext) {
    const { token } = await request.validateUsing(verifyEmailValidator)
    return response.ok(await emailVerification.verify(token))
  }

  async resendVerification(ctx: HttpContext) {
    await emailVerification.resend(principalOf(ctx))
    return ctx.response.accepted({ sent: true })
  }

  async logout(ctx: HttpContext) {
    await accounts.logout(principalOf(ctx))
    return ctx.response.noContent()
  }

  async me(ctx: HttpContext) {
    return ctx.response.ok(await accounts.me(principalOf(ctx)))
  }

  async switchTenant(ctx: HttpContext) {
    const { tenantId } = await ctx.request.validateUsing(switchTenantValidator)
    return ctx.response.ok(await accounts.switchTenant(principalOf(ctx), tenantId))
  }
}
