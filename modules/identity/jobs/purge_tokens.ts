import db from '@adonisjs/lucid/services/db'
import type { MaintenanceTask } from '#app/platform/maintenance'

/** Tokens that can no longer matter: denied access tokens past their expiry, expired refresh tokens and codes. */
export const purgeTokens: MaintenanceTask = {
  name: 'identity_tokens',
  async run() {
    // A denied access token only needs denying until it would have expired anyway.
    const denied = await db
      .from('identity_revoked_access_tokens')
      .where('expires_at', '<', db.raw('now()'))
      .delete()
    // Refresh tokens past expiry can neither be used nor signal reuse any more.
    const refresh = await db
      .from('identity_refresh_tokens')
      .where('expires_at', '<', db.raw('now()'))
      .delete()
    const codes = await db
      .from('identity_email_verifications')
      .where('expires_at', '<', db.raw(`now() - interval '1 day'`))
      .delete()
    return Number(denied) + Number(refresh) + Number(codes)
  },
}
