import db from '@adonisjs/lucid/services/db'
import mail from '@adonisjs/mail/services/main'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { ProblemException } from '#app/http/problem'
import { isUuid, newId } from '#app/platform/ids'
import { jobQueue } from '#app/platform/job_queue'
import { wakeTaskAfterCommit } from '#app/platform/background'
import Notification from '#modules/notifications/models/notification'

/** What a module asks notifications to tell (notify() in index.ts). */
export interface Notice {
  tenantId: string
  /** What happened, e.g. the event type ('orders.order_confirmed'). */
  kind: string
  title: string
  body: string
  data?: Record<string, unknown>
  /** One member's notification; omitted: everyone in the tenant sees it. */
  userId?: string | null
  /** The event that caused it, when there is one (kept to trace; not shown to API clients). */
  eventId?: string
  /** Mail to send as well (queued here, sent by the background sender with retries). */
  email?: { to: string; subject: string; text: string }
}

export const inbox = {
  /** In the caller's unit of work: the notifications exist if the change commits. One insert for all. */
  async notifyAll(trx: TransactionClientContract, notices: Notice[]) {
    if (notices.length === 0) return
    const at = new Date()
    await trx.table(Notification.table).multiInsert(
      notices.map((notice) => ({
        id: newId(),
        tenant_id: notice.tenantId,
        user_id: notice.userId ?? null,
        kind: notice.kind,
        title: notice.title.slice(0, 200),
        body: notice.body.slice(0, 2000),
        data: JSON.stringify(notice.data ?? {}),
        event_id: notice.eventId ?? null,
        created_at: at,
        updated_at: at,
      }))
    )
  },

  /** Marks it read for this user only (idempotent: the first read time stays). */
  async markRead(trx: TransactionClientContract, id: string, userId: string) {
    const notification = isUuid(id)
      ? await Notification.query({ client: trx })
          .where('id', id)
          .where((query) => query.whereNull('user_id').orWhere('user_id', userId))
          .first()
      : null
    if (!notification) {
      throw new ProblemException(404, 'notification_not_found', 'No such notification.')
    }
    // ON CONFLICT DO NOTHING is the point: a second read keeps the first read time.
    await trx
      .table('notifications_reads')
      .insert({
        id: newId(),
        tenant_id: notification.tenantId,
        notification_id: id,
        user_id: userId,
      })
      .onConflict(['notification_id', 'user_id'])
      .ignore()
    const read = await trx
      .from('notifications_reads')
      .where({ notification_id: id, user_id: userId })
      .select('created_at')
      .first()
    notification.$extras.read_at = read.created_at
    return notification
  },
}

/** The background task that sends queued mail (module.ts). */
export const SEND_EMAILS = 'notifications.send_emails'

export const outboundMail = {
  /** Queued in the event's unit of work (one insert for all); the background task sends it. */
  async queueAll(
    trx: TransactionClientContract,
    mails: Array<{ tenantId: string; to: string; subject: string; text: string; eventId?: string }>
  ) {
    if (mails.length === 0) return
    await wakeTaskAfterCommit(trx, SEND_EMAILS)
    await trx.table('notifications_emails').multiInsert(
      mails.map((input) => ({
        id: newId(),
        tenant_id: input.tenantId,
        to: input.to,
        subject: input.subject.slice(0, 300),
        text: input.text,
        event_id: input.eventId ?? null,
      }))
    )
  },
}

/** notifications_emails: mail queued in business transactions, sent by the background task. */
const emailQueue = jobQueue({
  table: 'notifications_emails',
  dueColumn: 'next_attempt_at',
  stateColumn: 'status',
  states: { claimable: ['pending'], pending: 'pending', dead: 'failed' },
  maxAttempts: 8,
  backoff: { baseMs: 60_000, maxMs: 3600_000 },
})

/** Milliseconds until queued mail is next due (a retry's backoff); null when none waits. */
export function emailsNextDueMs() {
  return emailQueue.nextDueMs()
}

/** Background task: sends due mail (SMTP, or .eml files without it); retries with backoff, 8 attempts. */
export async function sendDueEmails(limit = 20): Promise<number> {
  // A two-minute lease: longer than any SMTP exchange we wait for.
  const rows = await emailQueue.claim<{
    id: string
    to: string
    subject: string
    text: string
    attempts: number
  }>({
    limit,
    leaseSeconds: 120,
    returning: 't.id, t.to, t.subject, t.text, t.attempts',
    // A lease: lost in a database crash, the mail is claimed again (sending is at least once).
    commitWithoutFlush: true,
    prepared: true,
  })
  for (const email of rows) {
    try {
      await mail.send((message) => {
        message.to(email.to).subject(email.subject).text(email.text)
      })
      await db
        .from('notifications_emails')
        .where('id', email.id)
        .update({
          status: 'sent',
          sent_at: db.raw('now()'),
          last_error: null,
          updated_at: db.raw('now()'),
        })
    } catch (error) {
      await emailQueue.fail(email, {
        last_error: String((error as Error).message).slice(0, 1000),
        updated_at: db.raw('now()'),
      })
    }
  }
  return rows.length
}
