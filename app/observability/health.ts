import db from '@adonisjs/lucid/services/db'
import redis from '@adonisjs/redis/services/main'
import { DbCheck } from '@adonisjs/lucid/database'
import { RedisCheck } from '@adonisjs/redis'
import { HealthChecks, type BaseCheck } from '@adonisjs/core/health'
import { redisConfigured } from '#config/redis'
import env from '#start/env'
import { RelayLagCheck } from '#app/messaging/relay_lag_check'

let readiness: HealthChecks | undefined

/** Readiness: the database always; Redis only when REDIS_URL is set; relay lag as a warning (degraded). */
export function readinessChecks() {
  if (!readiness) {
    // register() replaces the list, so it is called once with every check.
    const checks: BaseCheck[] = [new DbCheck(db.connection())]
    if (redisConfigured()) checks.push(new RedisCheck(redis.connection()))
    checks.push(new RelayLagCheck(env.get('RELAY_LAG_WARN_SECONDS') ?? 60))
    readiness = new HealthChecks().register(checks)
  }
  return readiness
}
