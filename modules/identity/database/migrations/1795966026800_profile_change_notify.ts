import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * GET /auth/me's answer (the user and their memberships, with each tenant's
 * name and slug) is now kept per process too (profile_cache.ts), so the
 * identity tables must announce every change that could alter it, not only
 * the ones the token check reads:
 *
 * - any update of a user row (name, verified email…), not only of email,
 *   is_superadmin and disabled_at — a column added later is covered as well;
 * - a tenant renamed (name, slug) or deleted: `n:<tenant id>`.
 *
 * Memberships already announce `u:<user>` on every insert, update and delete.
 * The token check's cache ignores `n:` (a tenant's name is not part of it).
 */
const FUNCTION_WITH_TENANTS = `
  CREATE OR REPLACE FUNCTION identity_notify_principal_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
  DECLARE
    payload text;
  BEGIN
    IF TG_TABLE_NAME = 'identity_users' THEN
      payload := 'u:' || coalesce(NEW.id, OLD.id);
    ELSIF TG_TABLE_NAME = 'identity_memberships' THEN
      payload := 'u:' || coalesce(NEW.user_id, OLD.user_id);
      IF TG_OP = 'UPDATE' AND NEW.user_id IS DISTINCT FROM OLD.user_id THEN
        PERFORM pg_notify('atrium_identity_principals', 'u:' || OLD.user_id);
      END IF;
    ELSIF TG_TABLE_NAME = 'identity_tenants' THEN
      payload := 'n:' || coalesce(NEW.id, OLD.id);
    ELSIF TG_TABLE_NAME = 'identity_refresh_tokens' THEN
      payload := 's:' || coalesce(NEW.family_id, OLD.family_id);
    ELSE
      payload := 't:' || coalesce(NEW.jti, OLD.jti);
    END IF;
    PERFORM pg_notify('atrium_identity_principals', payload);
    RETURN NULL;
  END
  $$;
`

export default class extends BaseSchema {
  async up() {
    this.schema.raw(`
      ${FUNCTION_WITH_TENANTS}

      DROP TRIGGER IF EXISTS identity_users_principal_change ON identity_users;
      CREATE TRIGGER identity_users_principal_change
        AFTER UPDATE OR DELETE ON identity_users
        FOR EACH ROW EXECUTE FUNCTION identity_notify_principal_change();

      DROP TRIGGER IF EXISTS identity_tenants_profile_change ON identity_tenants;
      CREATE TRIGGER identity_tenants_profile_change
        AFTER UPDATE OF name, slug OR DELETE ON identity_tenants
        FOR EACH ROW EXECUTE FUNCTION identity_notify_principal_change();
    `)
  }

  async down() {
    // The function keeps its tenants branch: harmless once no trigger on identity_tenants calls it.
    this.schema.raw(`
      DROP TRIGGER IF EXISTS identity_tenants_profile_change ON identity_tenants;
      DROP TRIGGER IF EXISTS identity_users_principal_change ON identity_users;
      CREATE TRIGGER identity_users_principal_change
        AFTER UPDATE OF email, is_superadmin, disabled_at OR DELETE ON identity_users
        FOR EACH ROW EXECUTE FUNCTION identity_notify_principal_change();
    `)
  }
}
