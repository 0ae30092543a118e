import { wholeNumber } from '#app/platform/env_rules'

/** The gateway's environment variables, validated at boot with every other (start/module_env.ts). */
export const gatewayEnv = {
  /** Circuit breaker: this many failures of a deployment within the window cool it down. */
  GATEWAY_BREAKER_THRESHOLD: wholeNumber({ min: 1 }),
  GATEWAY_BREAKER_WINDOW_SECONDS: wholeNumber({ min: 1 }),
  GATEWAY_BREAKER_COOLDOWN_SECONDS: wholeNumber({ min: 1 }),
  /** Raw usage records older than this are deleted (the daily rollups stay). */
  GATEWAY_USAGE_RETENTION_DAYS: wholeNumber({ min: 1 }),
}
