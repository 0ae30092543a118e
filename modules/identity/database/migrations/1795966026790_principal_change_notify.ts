import { BaseSchema } from '@adonisjs/lucid/schema'

/**
 * Every process keeps the token check's answer (user active? session and
 * token not revoked? role in the token's tenant?) in memory, so an
 * authenticated request no longer pays a query for it. A cache like that is
 * only safe if every change that could alter the answer reaches every
 * process at once, whichever code path made it — a forgotten call in a
 * service would leave a disabled user or a removed member authorized for as
 * long as the entry lives. So the tables themselves announce it: these
 * triggers NOTIFY `atrium_identity_principals` inside the changing
 * transaction (delivered on commit, dropped on rollback) with what changed:
 * `u:<user id>` (the user, or any of their memberships), `s:<session id>`
 * (a refresh-token family revoked), `t:<jti>` (one access token denied).
 */
export default class extends BaseSchema {
  async up() {
    this.schema.raw(`
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
        ELSIF TG_TABLE_NAME = 'identity_refresh_tokens' THEN
          payload := 's:' || coalesce(NEW.family_id, OLD.family_id);
        ELSE
          payload := 't:' || coalesce(NEW.jti, OLD.jti);
        END IF;
        PERFORM pg_notify('atrium_identity_principals', payload);
        RETURN NULL;
      END
      $$;

      DROP TRIGGER IF EXISTS identity_users_principal_change ON identity_users;
      CREATE TRIGGER identity_users_principal_change
        AFTER UPDATE OF email, is_superadmin, disabled_at OR DELETE ON identity_users
        FOR EACH ROW EXECUTE FUNCTION identity_notify_principal_change();

      DROP TRIGGER IF EXISTS identity_memberships_principal_change ON identity_memberships;
      CREATE TRIGGER identity_memberships_principal_change
        AFTER INSERT OR UPDATE OR DELETE ON identity_memberships
        FOR EACH ROW EXECUTE FUNCTION identity_notify_principal_change();

      -- Only a revocation matters: a login inserts, a refresh marks used_at.
      DROP TRIGGER IF EXISTS identity_refresh_tokens_principal_change ON identity_refresh_tokens;
      CREATE TRIGGER identity_refresh_tokens_principal_change
        AFTER UPDATE OF revoked_at ON identity_refresh_tokens
        FOR EACH ROW WHEN (NEW.revoked_at IS DISTINCT FROM OLD.revoked_at)
        EXECUTE FUNCTION identity_notify_principal_change();

      DROP TRIGGER IF EXISTS identity_revoked_access_tokens_principal_change
        ON identity_revoked_access_tokens;
      CREATE TRIGGER identity_revoked_access_tokens_principal_change
        AFTER INSERT ON identity_revoked_access_tokens
        FOR EACH ROW EXECUTE FUNCTION identity_notify_principal_change();
    `)
  }

  async down() {
    this.schema.raw(`
      DROP TRIGGER IF EXISTS identity_users_principal_change ON identity_users;
      DROP TRIGGER IF EXISTS identity_memberships_principal_change ON identity_memberships;
      DROP TRIGGER IF EXISTS identity_refresh_tokens_principal_change ON identity_refresh_tokens;
      DROP TRIGGER IF EXISTS identity_revoked_access_tokens_principal_change
        ON identity_revoked_access_tokens;
      DROP FUNCTION IF EXISTS identity_notify_principal_change();
    `)
  }
}
