import type { BaseSchema } from '@adonisjs/lucid/schema'
import type { Knex } from 'knex'
import { appAccessSql, tenantIsolationSql } from '#app/tenancy/sql'

/**
 * Creates a tenant-owned table in one call: `id` (uuid), `tenant_id`, your
 * columns, timestamps, an index on tenant_id, and row-level security.
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
    table.uuid('tenant_id').notNullable().index()
    columns(table)
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(migration.now())
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(migration.now())
  })
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
