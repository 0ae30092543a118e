import { BaseSchema } from '@adonisjs/lucid/schema'
import { dropRedundantTenantIndexes, restoreTenantIndexes } from '#app/tenancy/migration'

/**
 * These tables each had a plain index on tenant_id next to one that already
 * starts with tenant_id: every insert paid for both (app/tenancy/sql.ts,
 * indexTenantUnlessLedSql).
 */
const TABLES = ['identity_memberships']

export default class extends BaseSchema {
  async up() {
    dropRedundantTenantIndexes(this, TABLES)
  }

  async down() {
    restoreTenantIndexes(this, TABLES)
  }
}
