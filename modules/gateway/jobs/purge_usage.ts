import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import type { MaintenanceTask } from '#app/platform/maintenance'

/**
 * Quota windows that have ended, raw usage records past their retention (the
 * daily rollups stay), and stored /v1/responses past their expiry.
 */
export const purgeUsage: MaintenanceTask = {
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
    const responses = await db
      .from('gateway_responses')
      .where('expires_at', '<', db.raw('now()'))
      .delete()
    return Number(counters) + Number(usage) + Number(responses)
  },
}
