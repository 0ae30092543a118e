import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * Tenants take turns at the relay too (app/messaging/relay.ts): with turns
 * only at the deliveries, a quiet tenant's event still waited for a burst
 * ahead of it in the outbox to be relayed, 100 a pass. The relay steps
 * through this index's tenants (platform events, with no tenant, as the nil
 * UUID: the expression the relay's query uses). It replaces the index on
 * available_at alone, so an event still maintains one index until relayed;
 * the readiness lag query reads every undispatched row either way.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.raw(`DROP INDEX messaging_outbox_pending`)
    this.schema.raw(
      `CREATE INDEX messaging_outbox_turns
          ON messaging_outbox ((coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)), available_at)
       WHERE dispatched_at IS NULL`
    )
  }

  async down() {
    this.schema.raw(`DROP INDEX messaging_outbox_turns`)
    this.schema.raw(
      `CREATE INDEX messaging_outbox_pending ON messaging_outbox (available_at) WHERE dispatched_at IS NULL`
    )
  }
}
