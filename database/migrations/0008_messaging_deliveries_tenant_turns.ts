import { BaseSchema } from '@adonisjs/lucid/schema'
import { APP_ROLE, EXTRA_VISIBILITY_POLICY, PLATFORM_POLICY, TENANT_POLICY } from '#app/tenancy/sql'
import { enableTenantIsolation } from '#app/tenancy/migration'

/**
 * Tenants take turns at the local transport's deliveries. The claim used to
 * take the oldest due deliveries, so one tenant's burst (an import publishing
 * 20,000 events) held every other tenant's orders and notifications back
 * until it drained. Each delivery now carries its event's tenant (the nil
 * UUID for platform events): the claim walks this index's distinct tenants
 * and takes a share of each one's oldest (`dueInTurns`, app/platform/turns.ts).
 * The index replaces the one on available_at alone, so a delivery still
 * maintains one index while pending.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.alterTable('messaging_deliveries', (table) => {
      table.uuid('tenant_id')
    })
    this.schema.raw(
      `UPDATE messaging_deliveries d
          SET tenant_id = coalesce(o.tenant_id, '00000000-0000-0000-0000-000000000000')
         FROM messaging_outbox o
        WHERE o.id = d.event_id`
    )
    this.schema.raw(`ALTER TABLE messaging_deliveries ALTER COLUMN tenant_id SET NOT NULL`)
    // A table with a tenant_id is tenant-isolated (the RLS audit holds every one to it). Only the
    // platform (relay, worker, bus commands) writes deliveries; tenant code may read its own.
    enableTenantIsolation(this, 'messaging_deliveries')
    this.schema.raw(`REVOKE INSERT, UPDATE, DELETE ON messaging_deliveries FROM ${APP_ROLE}`)
    this.schema.raw(`DROP INDEX messaging_deliveries_pending`)
    this.schema.raw(
      `CREATE INDEX messaging_deliveries_turns ON messaging_deliveries (tenant_id, available_at)
        WHERE state = 'pending'`
    )
  }

  async down() {
    this.schema.raw(`REVOKE ALL ON messaging_deliveries FROM ${APP_ROLE}`)
    for (const policy of [TENANT_POLICY, EXTRA_VISIBILITY_POLICY, PLATFORM_POLICY])
      this.schema.raw(`DROP POLICY IF EXISTS ${policy} ON messaging_deliveries`)
    this.schema.raw(`ALTER TABLE messaging_deliveries NO FORCE ROW LEVEL SECURITY`)
    this.schema.raw(`ALTER TABLE messaging_deliveries DISABLE ROW LEVEL SECURITY`)
    this.schema.raw(`DROP INDEX messaging_deliveries_turns`)
    this.schema.raw(
      `CREATE INDEX messaging_deliveries_pending ON messaging_deliveries (available_at) WHERE state = 'pending'`
    )
    this.schema.alterTable('messaging_deliveries', (table) => {
      table.dropColumn('tenant_id')
    })
  }
}
