import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * Quota counters commit without waiting for the WAL flush (synchronous_commit
 * off for these transactions only). A busy key's row is locked until its
 * commit, so the flush wait was what bounded one key's throughput. The cost:
 * if PostgreSQL itself crashes, the last few hundred milliseconds of counter
 * changes can be lost (a little headroom, never a refused request charged);
 * usage records and everything else keep full durability.
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
        PERFORM set_config('synchronous_commit', 'off', true);
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
    this.schema.raw(`
      CREATE OR REPLACE FUNCTION gateway_adjust(counter_keys text[], deltas bigint[])
      RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM set_config('synchronous_commit', 'off', true);
        -- Locked in key order first, as reservations take them, so the two cannot deadlock.
        PERFORM 1 FROM gateway_quota_counters WHERE key = ANY(counter_keys) ORDER BY key FOR UPDATE;
        UPDATE gateway_quota_counters c SET used = c.used + t.d
          FROM unnest(counter_keys, deltas) AS t(k, d) WHERE c.key = t.k;
      END $$
    `)
  }

  async down() {
    this.schema.raw('DROP FUNCTION IF EXISTS gateway_adjust(text[], bigint[])')
  }
}
