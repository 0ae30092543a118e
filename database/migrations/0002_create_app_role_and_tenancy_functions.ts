import { BaseSchema } from '@adonisjs/lucid/schema'
import { APP_ROLE, roleAndFunctionsSql } from '#app/tenancy/sql'
import { grantAppAccess } from '#app/tenancy/migration'

/**
 * The role tenant-scoped queries run as, and the functions RLS policies use.
 * Creating the role needs a superuser or CREATEROLE; on a managed database
 * where neither is granted, create `atrium_app` (NOLOGIN) and grant it to the
 * connection user beforehand — this migration then only checks it.
 */
export default class extends BaseSchema {
  async up() {
    for (const statement of roleAndFunctionsSql()) this.schema.raw(statement)
    grantAppAccess(this, 'idempotency_keys')
  }

  async down() {
    this.schema.raw(`REVOKE ALL ON idempotency_keys FROM ${APP_ROLE}`)
    this.schema.raw('DROP FUNCTION IF EXISTS app_current_user()')
    this.schema.raw('DROP FUNCTION IF EXISTS app_current_tenant()')
    // The role is cluster-wide and may serve other databases (e.g. <name>_test): it stays.
  }
}
