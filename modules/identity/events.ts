/** Integration events the identity module publishes. */
import type { TenantRole } from '#app/auth/jwt_guard'

declare module '#app/messaging/types' {
  interface IntegrationEvents {
    /** A member left or was removed: what they set up in the tenant must stop acting for them. */
    'identity.member_removed': {
      version: 1
      payload: { userId: string; role: TenantRole; byUserId: string; left: boolean }
    }
  }
}
