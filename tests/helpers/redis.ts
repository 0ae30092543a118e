import redis from '@adonisjs/redis/services/main'
import { redisConfigured, TEST_KEY_PREFIX } from '#config/redis'

/**
 * Deletes this test run's Redis keys (rate-limit counters, caches) left by an
 * earlier run, so a run never inherits a block from the previous one. Only
 * keys under the test prefix are touched; the machine's Redis may be shared.
 */
export async function clearTestRedisKeys() {
  if (!redisConfigured()) return
  const connection = redis.connection().ioConnection
  let cursor = '0'
  do {
    // SCAN's pattern is not prefixed by ioredis, but DEL's keys are.
    const [next, keys] = await connection.scan(cursor, 'MATCH', `${TEST_KEY_PREFIX}*`, 'COUNT', 500)
    cursor = next
    if (keys.length) await connection.del(...keys.map((key) => key.slice(TEST_KEY_PREFIX.length)))
  } while (cursor !== '0')
}
