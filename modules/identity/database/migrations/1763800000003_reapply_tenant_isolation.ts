import { BaseSchema } from '@adonisjs/lucid/schema'
import { enableTenantIsolation } from '#app/tenancy/migration'

/**
 * Re-applies isolation to the identity tenant tables so databases created
 * before the helper gained the platform_access policy (and scoped the tenant
 * policy to the app role) get them too. Idempotent.
 */
export default class extends BaseSchema {
  async up() {
    enableTenantIsolation(this, 'identity_memberships', {
      extraVisibility: 'user_id = app_current_user()',
    })
    enableTenantIsolation(this, 'identity_audit_events')
  }

  async down() {}
}
