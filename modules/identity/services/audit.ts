import db from '@adonisjs/lucid/services/db'
import { HttpContext } from '@adonisjs/core/http'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { newId } from '#app/platform/ids'

export type AuditEvent =
  | 'login.succeeded'
  | 'login.failed'
  | 'refresh.reused'
  | 'member.added'
  | 'member.role_changed'
  | 'member.removed'
  | 'keys.rotated'
  | 'user.disabled'
  | 'user.enabled'
  | 'email.verified'
  | 'chat.conversations_listed'
  | 'chat.conversation_viewed'

export interface AuditEntry {
  tenantId?: string | null
  actorUserId?: string | null
  subjectUserId?: string | null
  details?: Record<string, unknown>
}

/**
 * Appends a security event. Pass the unit of work's `trx` when the event
 * belongs to a change, so both commit or neither does; without one it is
 * written on its own (failed logins, which change nothing else). The request's
 * ip, user agent and id come from the current HTTP context when there is one.
 */
export async function recordAudit(
  event: AuditEvent,
  entry: AuditEntry,
  client: TransactionClientContract | typeof db = db
) {
  const request = HttpContext.get()?.request
  await client.table('identity_audit_events').insert({
    id: newId(),
    event,
    tenant_id: entry.tenantId ?? null,
    actor_user_id: entry.actorUserId ?? null,
    subject_user_id: entry.subjectUserId ?? null,
    ip: request?.ip() ?? null,
    user_agent: request?.header('user-agent')?.slice(0, 300) ?? null,
    request_id: request?.id() ?? null,
    details: JSON.stringify(entry.details ?? {}),
  })
}
