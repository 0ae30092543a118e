/*
| What the gateway does in the background: revoke the API keys of members
| who left, drop quota windows that have ended, and raw usage records past
| their retention (the daily rollups stay).
*/
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import { registerMaintenance } from '#app/platform/maintenance'
import { subscribe } from '#app/messaging/subscribers'
import { keys } from '#modules/gateway/services/keys'
import '#modules/identity/index'

subscribe('identity.member_removed', 'gateway.revoke_departed_member_keys', async (event, trx) => {
  await keys.revokeForDepartedMember(trx, event.tenantId!, event.payload.userId)
})

registerMaintenance({
  name: 'gateway_usage',
  async run() {
    const counters = await db
      .from('gateway_quota_counters')
      .where('expires_at', '<', db.raw('now()'))
      .delete()
    const days = env.get('GATEWAY_USAGE_RETENTION_DAYS') ?? 90
    const usage = await db
      .from('gateway_usage')
      .where('created_at', '<', db.raw(`now() - make_interval(days => ?)`, [days]))
      .delete()
    return Number(counters) + Number(usage)
  },
})
