import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * The PostgreSQL quota store's reservation as one server-side call: create
 * missing counters, lock them in key order, check every limit, and increment
 * all or none. One round trip, so a busy key's rows stay locked for
 * microseconds rather than for a chain of client round trips.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.raw(`
      CREATE OR REPLACE FUNCTION gateway_reserve(
        counter_keys text[], amounts bigint[], limits bigint[], expires timestamptz[]
      ) RETURNS bigint[] LANGUAGE plpgsql AS $$
      DECLARE
        current bigint[];
        refused int := -1;
      BEGIN
        INSERT INTO gateway_quota_counters (key, used, expires_at)
          SELECT k, 0, e FROM unnest(counter_keys, expires) AS t(k, e)
          ON CONFLICT (key) DO NOTHING;
        SELECT array_agg(c.used ORDER BY t.ord) INTO current
          FROM unnest(counter_keys) WITH ORDINALITY AS t(k, ord)
          JOIN (SELECT key, used FROM gateway_quota_counters
                 WHERE key = ANY(counter_keys) ORDER BY key FOR UPDATE) c ON c.key = t.k;
        FOR i IN 1 .. array_length(counter_keys, 1) LOOP
          IF current[i] + amounts[i] > limits[i] THEN
            refused := i - 1;
            EXIT;
          END IF;
        END LOOP;
        IF refused >= 0 THEN
          RETURN array_prepend(refused::bigint, current);
        END IF;
        UPDATE gateway_quota_counters c SET used = c.used + t.a
          FROM unnest(counter_keys, amounts) AS t(k, a) WHERE c.key = t.k;
        RETURN array_prepend(-1::bigint,
          (SELECT array_agg(current[i] + amounts[i] ORDER BY i)
             FROM generate_subscripts(counter_keys, 1) AS i));
      END $$
    `)
  }

  async down() {
    this.schema.raw(
      'DROP FUNCTION IF EXISTS gateway_reserve(text[], bigint[], bigint[], timestamptz[])'
    )
  }
}
