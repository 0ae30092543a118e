/*
| SQL for tenant isolation with row-level security (DESIGN.md §4). The app's
| queries on tenant data run as APP_ROLE, a role without BYPASSRLS, so the
| policies hold even when the connection user is a superuser.
*/

/** Non-login role the unit of work switches to (`SET LOCAL ROLE`). */
export const APP_ROLE = 'atrium_app'

/** Name of every tenant table's policy; the table audit test looks for it. */
export const TENANT_POLICY = 'tenant_isolation'

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/

export function assertIdentifier(name: string) {
  if (!IDENTIFIER.test(name)) throw new Error(`Not a safe SQL identifier: ${name}`)
  return name
}

/**
 * Creates the app role (once per cluster), lets the connection user switch to
 * it, and defines the functions policies use. An empty setting means "no
 * tenant": once set in a session, a custom setting reads '' after its
 * transaction ends, and ''::uuid would raise.
 */
export function roleAndFunctionsSql(): string[] {
  return [
    `DO $$ BEGIN
       IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${APP_ROLE}') THEN
         CREATE ROLE ${APP_ROLE} NOLOGIN;
       END IF;
     END $$`,
    `DO $$ BEGIN
       IF NOT pg_has_role(current_user, '${APP_ROLE}', 'MEMBER') THEN
         EXECUTE format('GRANT ${APP_ROLE} TO %I', current_user);
       END IF;
     END $$`,
    `GRANT USAGE ON SCHEMA public TO ${APP_ROLE}`,
    `CREATE OR REPLACE FUNCTION app_current_tenant() RETURNS uuid
       LANGUAGE sql STABLE PARALLEL SAFE
       AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$`,
    `CREATE OR REPLACE FUNCTION app_current_user() RETURNS uuid
       LANGUAGE sql STABLE PARALLEL SAFE
       AS $$ SELECT NULLIF(current_setting('app.user_id', true), '')::uuid $$`,
  ]
}

/** Policy letting the platform's own connection user (relays, admin views) see every row. */
export const PLATFORM_POLICY = 'platform_access'

/** The read-only policy that widens what the app role sees (`extraVisibility`). */
export const EXTRA_VISIBILITY_POLICY = 'extra_visibility'

/**
 * Turns on isolation for a table with a `tenant_id uuid` column: RLS enabled
 * and forced, a policy confining the app role to the current tenant (writes
 * included), and the app role's privileges. `extraVisibility` widens reads
 * only (e.g. a user seeing their own memberships in every tenant).
 *
 * The connection user itself (what runs migrations, relays and admin views,
 * outside any unit of work) gets its own permissive policy: a superuser
 * bypasses RLS anyway, and a non-superuser table owner on a managed database
 * would otherwise see nothing under FORCE. Tenant code never runs as it.
 */
export function tenantIsolationSql(
  table: string,
  options: { extraVisibility?: string } = {}
): string[] {
  const name = assertIdentifier(table)
  const sameTenant = 'tenant_id = app_current_tenant()'
  // Extra visibility is a SELECT-only policy: policies of one command OR together, so the
  // wider rows can be read, while UPDATE and DELETE still see only the tenant's own
  // (one FOR ALL policy with the OR in USING let DELETE reach them too).
  return [
    `ALTER TABLE ${name} ENABLE ROW LEVEL SECURITY`,
    `ALTER TABLE ${name} FORCE ROW LEVEL SECURITY`,
    `DROP POLICY IF EXISTS ${TENANT_POLICY} ON ${name}`,
    `CREATE POLICY ${TENANT_POLICY} ON ${name} TO ${APP_ROLE} USING (${sameTenant}) WITH CHECK (${sameTenant})`,
    `DROP POLICY IF EXISTS ${EXTRA_VISIBILITY_POLICY} ON ${name}`,
    ...(options.extraVisibility
      ? [
          `CREATE POLICY ${EXTRA_VISIBILITY_POLICY} ON ${name} FOR SELECT TO ${APP_ROLE} USING (${options.extraVisibility})`,
        ]
      : []),
    `DROP POLICY IF EXISTS ${PLATFORM_POLICY} ON ${name}`,
    `CREATE POLICY ${PLATFORM_POLICY} ON ${name} TO CURRENT_USER USING (true) WITH CHECK (true)`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${name} TO ${APP_ROLE}`,
  ]
}

/** Privileges for a table the app role uses that is not tenant-owned (users, lookups). */
export function appAccessSql(
  table: string,
  privileges = 'SELECT, INSERT, UPDATE, DELETE'
): string[] {
  return [`GRANT ${privileges} ON ${assertIdentifier(table)} TO ${APP_ROLE}`]
}

/**
 * SQL condition: the pg_index row `alias` is a valid, non-partial btree index
 * whose first key column is tenant_id.
 */
function ledByTenant(alias: string) {
  return `${alias}.indisvalid AND ${alias}.indpred IS NULL
  AND (SELECT amname FROM pg_am JOIN pg_class c ON c.relam = pg_am.oid WHERE c.oid = ${alias}.indexrelid) = 'btree'
  AND (SELECT attname FROM pg_attribute WHERE attrelid = ${alias}.indrelid AND attnum = ${alias}.indkey[0]) = 'tenant_id'`
}

/**
 * Every query of a tenant table filters on tenant_id (its policy does), so
 * the table needs an index that starts with it — one. A plain index on
 * tenant_id next to another that starts with it (a unique (tenant_id, sku),
 * a list index (tenant_id, created_at)) answers nothing the other cannot,
 * and every insert pays for it: ~10 % of a gateway usage row's insert
 * (`npm run bench:tenant-index`). This creates `<table>_tenant_id_index`
 * only when no index starts with tenant_id yet.
 */
export function indexTenantUnlessLedSql(table: string) {
  assertIdentifier(table)
  return `DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_index x WHERE x.indrelid = '${table}'::regclass AND ${ledByTenant('x')}) THEN
      CREATE INDEX ${table}_tenant_id_index ON ${table} (tenant_id);
    END IF;
  END $$`
}

/**
 * Drops `table`'s plain single-column index on tenant_id when another index
 * already starts with tenant_id (see indexTenantUnlessLedSql).
 */
export function dropRedundantTenantIndexSql(table: string) {
  assertIdentifier(table)
  return `DO $$ DECLARE redundant text; BEGIN
    FOR redundant IN
      SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
       WHERE x.indrelid = '${table}'::regclass AND x.indnatts = 1 AND NOT x.indisunique
         AND x.indexprs IS NULL AND ${ledByTenant('x')}
         AND EXISTS (SELECT 1 FROM pg_index y
                      WHERE y.indrelid = x.indrelid AND y.indexrelid <> x.indexrelid
                        AND y.indnatts > 1 AND ${ledByTenant('y')})
    LOOP
      EXECUTE format('DROP INDEX %I', redundant);
    END LOOP;
  END $$`
}
