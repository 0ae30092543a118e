/** The chat module's settings, read from the environment once. */
export const chatConfig = {
  /** Most conversations one user may keep in a tenant (archived ones count). */
  maxConversationsPerUser: Number(process.env.CHAT_MAX_CONVERSATIONS_PER_USER ?? 10_000),
  /** The title of a conversation created without one (generated titles come with replies). */
  defaultTitle: 'New conversation',
} as const
