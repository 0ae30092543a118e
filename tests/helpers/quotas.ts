import db from '@adonisjs/lucid/services/db'
import redis from '@adonisjs/redis/services/main'
import { redisConfigured } from '#config/redis'
import { quotas, type Dimension } from '#modules/gateway/services/quotas'
import { clock } from '#app/platform/clock'
import { justAfterNextMinute } from '#tests/helpers/processes'

/** The current window's value of a key's counter, in whichever store is in use. */
export function quotaCounter(keyId: string, dimension: Dimension) {
  return scopeCounter('key', keyId, dimension)
}

/**
 * A scope's counter summed over every window stored, in whichever store is in
 * use: processes whose clocks differ (a test's servers each start just after
 * a minute begins) count in different windows. A user's scope id is
 * `tenantId:userId`. Settles this process's answers did not wait for are
 * stored first (a server process stores its own before it exits).
 */
export async function scopeCounter(
  scope: 'key' | 'tenant' | 'user',
  id: string,
  dimension: Dimension
) {
  await quotas.settled()
  const prefix = `gw:q:${scope}:${id}:${dimension}:`
  if (redisConfigured()) {
    const connection = redis.connection()
    const keys = await connection.ioConnection.keys(
      `${connection.ioConnection.options.keyPrefix ?? ''}${prefix}*`
    )
    if (keys.length === 0) return 0
    const stripped = keys.map((key) =>
      key.slice((connection.ioConnection.options.keyPrefix ?? '').length)
    )
    const values = await Promise.all(stripped.map((key) => connection.get(key)))
    return values.reduce((sum, value) => sum + Number(value ?? 0), 0)
  }
  const rows = await db.from('gateway_quota_counters').where('key', 'like', `${prefix}%`)
  return rows.reduce((sum, row) => sum + Number(row.used), 0)
}

/**
 * Quota windows are fixed minutes: a test that counts within one must not
 * straddle a boundary. This process's quota clock is set to just after the
 * next minute begins — as minuteStartOffset does for the servers a test
 * starts — and set back by the test's cleanup.
 */
export function withinOneMinute(cleanup: (fn: () => void) => void) {
  clock.travelTo(justAfterNextMinute(clock.now()))
  cleanup(() => clock.reset())
}
