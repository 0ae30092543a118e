import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * Reservations in batches on the PostgreSQL quota store. Every request of a
 * busy key locks the same counter rows, so one reservation at a time bounded
 * the key's throughput by a round trip and a lock hand-off each. This takes
 * the reservations queued meanwhile (in arrival order) in one call: the
 * union of their counters is locked once, in key order as everywhere else,
 * each reservation is checked against the counts left by the ones before it
 * and taken whole or refused whole, exactly as one call each would have.
 *
 * Arguments are flat: one element per counter, `request_of` naming the
 * reservation (1-based, consecutive) each belongs to. The answer is, per
 * reservation, [refused index or -1, each counter's value after (before when
 * refused)], concatenated.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.raw(`
      CREATE OR REPLACE FUNCTION gateway_reserve_many(
        request_of int[], counter_keys text[], amounts bigint[], limits bigint[], expires timestamptz[]
      ) RETURNS bigint[] LANGUAGE plpgsql AS $$
      DECLARE
        distinct_keys text[];
        counts bigint[];
        slot int[];
        answer bigint[] := '{}';
        total int := coalesce(array_length(counter_keys, 1), 0);
        first int := 1;
        last int;
        refused int;
      BEGIN
        PERFORM set_config('synchronous_commit', 'off', true);
        INSERT INTO gateway_quota_counters (key, used, expires_at)
          SELECT k, 0, max(e) FROM unnest(counter_keys, expires) AS t(k, e) GROUP BY k
          ON CONFLICT (key) DO NOTHING;
        SELECT array_agg(key ORDER BY key), array_agg(used ORDER BY key) INTO distinct_keys, counts
          FROM (SELECT key, used FROM gateway_quota_counters
                 WHERE key = ANY(counter_keys) ORDER BY key FOR UPDATE) locked;
        SELECT array_agg(array_position(distinct_keys, k) ORDER BY ord) INTO slot
          FROM unnest(counter_keys) WITH ORDINALITY AS t(k, ord);
        WHILE first <= total LOOP
          last := first;
          WHILE last < total AND request_of[last + 1] = request_of[first] LOOP
            last := last + 1;
          END LOOP;
          refused := -1;
          FOR i IN first .. last LOOP
            IF counts[slot[i]] + amounts[i] > limits[i] THEN
              refused := i - first;
              EXIT;
            END IF;
          END LOOP;
          IF refused < 0 THEN
            FOR i IN first .. last LOOP
              counts[slot[i]] := counts[slot[i]] + amounts[i];
            END LOOP;
          END IF;
          answer := answer || refused::bigint;
          FOR i IN first .. last LOOP
            answer := answer || counts[slot[i]];
          END LOOP;
          first := last + 1;
        END LOOP;
        UPDATE gateway_quota_counters c SET used = t.u
          FROM unnest(distinct_keys, counts) AS t(k, u) WHERE c.key = t.k AND c.used <> t.u;
        RETURN answer;
      END $$
    `)
  }

  async down() {
    this.schema.raw(
      'DROP FUNCTION IF EXISTS gateway_reserve_many(int[], text[], bigint[], bigint[], timestamptz[])'
    )
  }
}
