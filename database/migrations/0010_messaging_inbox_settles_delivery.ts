import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * A local delivery is settled by the statement that records its event in the
 * subscriber's inbox, inside the handler's unit of work — no longer by an
 * UPDATE of its own after that unit committed.
 *
 * Why: the separate UPDATE was a round trip and a commit (a WAL flush) in
 * every worker pass, next to the unit of work's own, and a crash between the
 * two left handled deliveries to come back after their lease as duplicates.
 * Now the delivery's `done` commits, or rolls back, with the effects.
 *
 * A trigger, SECURITY DEFINER: tenant units of work run as the app role,
 * which may insert inbox rows but not touch deliveries, and this does only
 * the one thing. It gives the app role no new power: an inbox row already
 * turns its delivery into a no-op. Inbox rows of broker transports match no
 * pending delivery (only `bus:replay` makes one) and change nothing.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.raw(`
      CREATE FUNCTION messaging_settle_recorded_deliveries() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
      AS $$
      BEGIN
        UPDATE messaging_deliveries d
           SET state = 'done', handled_at = now(), last_error = NULL
          FROM recorded r
         WHERE d.event_id = r.event_id AND d.subscriber = r.subscriber AND d.state = 'pending';
        RETURN NULL;
      END
      $$`)
    this.schema.raw('REVOKE ALL ON FUNCTION messaging_settle_recorded_deliveries() FROM PUBLIC')
    this.schema.raw(`
      CREATE TRIGGER messaging_inbox_settles_delivery
        AFTER INSERT ON messaging_inbox
        REFERENCING NEW TABLE AS recorded
        FOR EACH STATEMENT EXECUTE FUNCTION messaging_settle_recorded_deliveries()`)
  }

  async down() {
    this.schema.raw('DROP TRIGGER IF EXISTS messaging_inbox_settles_delivery ON messaging_inbox')
    this.schema.raw('DROP FUNCTION IF EXISTS messaging_settle_recorded_deliveries()')
  }
}
