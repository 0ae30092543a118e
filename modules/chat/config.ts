import env from '#start/env'

/** The chat module's settings, read once from the environment validated at boot (env.ts). */
export const chatConfig = {
  /** Most conversations one user may keep in a tenant (archived ones count). */
  maxConversationsPerUser: env.get('CHAT_MAX_CONVERSATIONS_PER_USER') ?? 10_000,
  /** The title of a conversation created without one (generated titles come with replies). */
  defaultTitle: 'New conversation',
  /** The gateway model alias a message uses when it names none. */
  defaultModel: env.get('CHAT_DEFAULT_MODEL') || 'chat-default',
  /** The alias that writes titles; empty: the model of the reply. */
  titleModel: env.get('CHAT_TITLE_MODEL') || null,
  /** Tokens of context a reply may see (system prompt + ancestor chain, estimated). */
  contextTokens: env.get('CHAT_CONTEXT_TOKENS') ?? 8192,
  /** The longest reply, in tokens (also what each send reserves on the quotas). */
  maxOutputTokens: env.get('CHAT_MAX_OUTPUT_TOKENS') ?? 1024,
  /** The system prompt when the conversation has no assistant; empty: none. */
  systemPrompt: env.get('CHAT_SYSTEM_PROMPT') || null,
  /** Generations one process runs at once; more wait queued for a free slot here or elsewhere. */
  maxConcurrentGenerations: env.get('CHAT_MAX_CONCURRENT_GENERATIONS') ?? 256,
  /**
   * A running reply's lease, in seconds: renewed every third of it; a process
   * that stops renewing (it died) has its reply marked failed after it.
   */
  generationLeaseSeconds: env.get('CHAT_GENERATION_LEASE_SECONDS') ?? 30,
  /**
   * Deltas after the first are gathered this long (ms) and sent as one; 0
   * sends each at once. 50 ms is 20 updates a second, smoother than anyone
   * reads; against 25 it cost the server 7–13 % less CPU per streamed reply
   * and shortened the spread row's tail in four alternating pairs (bench:chat,
   * docs/chat.md) — every flush is an append to the log and a write to each
   * reader. The first delta never waits.
   */
  deltaFlushMs: env.get('CHAT_DELTA_FLUSH_MS') ?? 50,
  /** How often a reply's partial text is saved while it streams (ms): what a crash keeps. */
  saveEveryMs: env.get('CHAT_SAVE_EVERY_MS') ?? 2000,
  /** How long a finished generation's events stay replayable (Last-Event-ID), in seconds. */
  replaySeconds: env.get('CHAT_REPLAY_SECONDS') ?? 600,
  /** Per-user limits when neither the user nor the tenant default sets one; unset: unlimited. */
  messagesPerMinute: env.get('CHAT_MESSAGES_PER_MINUTE') ?? null,
  tokensPerDay: env.get('CHAT_TOKENS_PER_DAY') ?? null,
} as const
