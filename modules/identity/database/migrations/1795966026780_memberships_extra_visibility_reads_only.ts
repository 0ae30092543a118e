import { BaseSchema } from '@adonisjs/lucid/schema'
import { enableTenantIsolation } from '#app/tenancy/migration'

/**
 * Re-applies isolation to identity_memberships now that extra visibility is
 * a SELECT-only policy: a user's memberships in other tenants stay readable
 * (the tenant switcher), but no longer updatable or deletable from another
 * tenant's unit of work. Idempotent.
 */
export default class extends BaseSchema {
  async up() {
    enableTenantIsolation(this, 'identity_memberships', {
      extraVisibility: 'user_id = app_current_user()',
    })
  }

  async down() {}
}
