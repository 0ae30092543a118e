/*
| What identity does in the background: purge rows that can no longer matter.
*/
import db from '@adonisjs/lucid/services/db'
import { registerMaintenance } from '#app/platform/maintenance'

registerMaintenance({
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
    return Number(denied) + Number(refresh)
  },
})
