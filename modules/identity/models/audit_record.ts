import { column } from '@adonisjs/lucid/orm'
import { internal, jsonb } from '#app/platform/columns'
import { IdentityAuditEventSchema } from '#database/schema'

/** One security-relevant event (logins, role changes, removals); append-only. */
export default class AuditRecord extends IdentityAuditEventSchema {
  static table = 'identity_audit_events'

  @column(internal)
  declare tenantId: string | null
  @column(jsonb)
  declare details: Record<string, unknown>
}
