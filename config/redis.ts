import env from '#start/env'
import { defineConfig } from '@adonisjs/redis'
import type { InferConnections } from '@adonisjs/redis/types'

/**
 * Redis is optional (DESIGN.md §1): @adonisjs/redis opens a connection on the
 * first `redis.connection()` call, and every caller checks `redisConfigured()`
 * first, so without REDIS_URL nothing connects.
 */
export const TEST_KEY_PREFIX = 'atrium-test:'

const redisConfig = defineConfig({
  connection: 'main',
  connections: {
    main: {
      host: '127.0.0.1',
      port: 6379,
      ...(env.get('REDIS_URL') ? parseRedisUrl(env.get('REDIS_URL')!) : {}),
      // Tests share the machine's Redis with anything else running there: their
      // keys get a prefix of their own so each run can start from a clean slate.
      keyPrefix: env.get('NODE_ENV') === 'test' ? TEST_KEY_PREFIX : undefined,
      maxRetriesPerRequest: 1,
      retryStrategy(times) {
        return times > 10 ? null : Math.min(times * 200, 2000)
      },
    },
  },
})

function parseRedisUrl(value: string) {
  const url = new URL(value)
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  }
}

export const redisConfigured = () => Boolean(env.get('REDIS_URL'))

export default redisConfig

declare module '@adonisjs/redis/types' {
  export interface RedisConnections extends InferConnections<typeof redisConfig> {}
}
