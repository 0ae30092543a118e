import type { HttpContext } from '@adonisjs/core/http'
import { signingKeys } from '#modules/identity/services/signing_keys'

export default class JwksController {
  /** Public keys that verify Atrium access tokens; split-out services cache this. */
  async show({ response }: HttpContext) {
    response.header('cache-control', 'public, max-age=300')
    return response.ok(await signingKeys.jwks())
  }
}
