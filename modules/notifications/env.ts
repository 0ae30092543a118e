import { wholeNumber } from '#app/platform/env_rules'

/**
 * The notifications module's environment variables, validated at boot with
 * every other (start/module_env.ts). Mail's transport (SMTP_*, MAIL_*) is the
 * platform's, in start/env.ts: config/mail.ts reads it.
 */
export const notificationsEnv = {
  /** A delivery is given up after this many attempts; an endpoint after this many failures in a row. */
  WEBHOOK_MAX_ATTEMPTS: wholeNumber({ min: 1 }),
  WEBHOOK_DISABLE_AFTER: wholeNumber({ min: 1 }),
  WEBHOOK_RETRY_BASE_MS: wholeNumber({ min: 1 }),
  /** How many webhooks one tenant may register. */
  WEBHOOKS_MAX_PER_TENANT: wholeNumber(),
}
