import type { BaseSchema } from '@adonisjs/lucid/schema'
import type { Knex } from 'knex'
import {
  appAccessSql,
  assertIdentifier,
  dropRedundantTenantIndexSql,
  indexTenantUnlessLedSql,
  tenantIsolationSql,
} from '#app/tenancy/sql'

/**
 * Creates a tenant-owned table in one call: `id` (uuid), `tenant_id`, your
 * columns, timestamps, an index on tenant_id unless one of yours already
 * starts with it (a unique (tenant_id, …) or a list index), and row-level
 * security.
 *
 *   async up() {
 *     createTenantTable(this, 'helpdesk_tickets', (table) => {
 *       table.string('subject').notNullable()
 *     })
 *   }
 */
export function createTenantTable(
  migration: BaseSchema,
  tableName: string,
  columns: (table: Knex.CreateTableBuilder) => void,
  options: { extraVisibility?: string } = {}
) {
  migration.schema.createTable(tableName, (table) => {
    table.uuid('id').primary()
    table.uuid('tenant_id').notNullable()
    columns(table)
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(migration.now())
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(migration.now())
  })
  migration.schema.raw(indexTenantUnlessLedSql(tableName))
  enableTenantIsolation(migration, tableName, options)
}

/** Adds row-level security to an existing table with a `tenant_id uuid` column. */
export function enableTenantIsolation(
  migration: BaseSchema,
  tableName: string,
  options: { extraVisibility?: string } = {}
) {
  for (const statement of tenantIsolationSql(tableName, options)) migration.schema.raw(statement)
}

/** Lets the app role read and write a table that is not tenant-owned. */
export function grantAppAccess(migration: BaseSchema, tableName: string, privileges?: string) {
  for (const statement of appAccessSql(tableName, privileges)) migration.schema.raw(statement)
}

/**
 * Drops each table's plain index on tenant_id where another index already
 * starts with tenant_id (createTenantTable no longer makes such a pair; an
 * index added in a later migration can). The audit test lists any left.
 */
export function dropRedundantTenantIndexes(migration: BaseSchema, tableNames: string[]) {
  for (const tableName of tableNames) migration.schema.raw(dropRedundantTenantIndexSql(tableName))
}

/** The down of dropRedundantTenantIndexes: the plain index back. */
export function restoreTenantIndexes(migration: BaseSchema, tableNames: string[]) {
  for (const tableName of tableNames.map(assertIdentifier)) {
    migration.schema.raw(
      `CREATE INDEX IF NOT EXISTS ${tableName}_tenant_id_index ON ${tableName} (tenant_id)`
    )
  }
}
