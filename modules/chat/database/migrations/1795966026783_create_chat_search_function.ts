import { BaseSchema } from '@adonisjs/lucid/schema'
import { APP_ROLE } from '#app/tenancy/sql'

/**
 * Message search cannot use its GIN index under row-level security:
 * PostgreSQL will not evaluate a user's condition before the policy's unless
 * its operator is LEAKPROOF, and tsvector's @@ is not — every search became a
 * sequential scan (one second at a million messages). This function finds the
 * matching ids as the table owner, confined by hand to the caller's tenant and
 * user as the unit of work set them (app.tenant_id, app.user_id; nothing the
 * caller passes can widen that), and plans each call with the real query, so
 * a rare word uses the index and a common one walks the newest ids. The rows
 * themselves are then read under row-level security as usual.
 */
export default class extends BaseSchema {
  async up() {
    this.schema.raw(`
      CREATE OR REPLACE FUNCTION chat_search_ids(search_query text, before_id uuid, max_rows int)
      RETURNS TABLE (id uuid)
      LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
      AS $$
      BEGIN
        IF app_current_tenant() IS NULL OR app_current_user() IS NULL THEN
          RETURN;
        END IF;
        RETURN QUERY EXECUTE
          'SELECT m.id FROM chat_messages m
            WHERE m.tenant_id = $1 AND m.user_id = $2
              AND m.search @@ websearch_to_tsquery(''simple'', $3)
              AND ($4::uuid IS NULL OR m.id < $4)
            ORDER BY m.id DESC LIMIT $5'
          USING app_current_tenant(), app_current_user(), search_query, before_id, least(max_rows, 101);
      END
      $$`)
    this.schema.raw('REVOKE ALL ON FUNCTION chat_search_ids(text, uuid, int) FROM PUBLIC')
    this.schema.raw(`GRANT EXECUTE ON FUNCTION chat_search_ids(text, uuid, int) TO ${APP_ROLE}`)
  }

  async down() {
    this.schema.raw('DROP FUNCTION IF EXISTS chat_search_ids(text, uuid, int)')
  }
}
