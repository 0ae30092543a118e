import { Env } from '@adonisjs/core/env'
import { wholeNumber } from '#app/platform/env_rules'

/**
 * The chat module's environment variables (read in config.ts), validated at
 * boot with every other (start/module_env.ts): a bad value stops the process
 * with one line naming it, instead of a NaN cap that refuses every reply.
 */
export const chatEnv = {
  CHAT_MAX_CONVERSATIONS_PER_USER: wholeNumber({ min: 1 }),
  CHAT_DEFAULT_MODEL: Env.schema.string.optional(),
  CHAT_TITLE_MODEL: Env.schema.string.optional(),
  CHAT_CONTEXT_TOKENS: wholeNumber({ min: 1 }),
  CHAT_MAX_OUTPUT_TOKENS: wholeNumber({ min: 1 }),
  CHAT_SYSTEM_PROMPT: Env.schema.string.optional(),
  CHAT_MAX_CONCURRENT_GENERATIONS: wholeNumber({ min: 1 }),
  CHAT_GENERATION_LEASE_SECONDS: wholeNumber({ min: 1 }),
  CHAT_DELTA_FLUSH_MS: wholeNumber({ max: 10_000 }),
  CHAT_SAVE_EVERY_MS: wholeNumber({ min: 1 }),
  CHAT_REPLAY_SECONDS: wholeNumber({ min: 1 }),
  CHAT_MESSAGES_PER_MINUTE: wholeNumber(),
  CHAT_TOKENS_PER_DAY: wholeNumber(),
}
