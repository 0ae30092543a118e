import { createHmac, randomBytes } from 'node:crypto'
import db from '@adonisjs/lucid/services/db'
import encryption from '@adonisjs/core/services/encryption'
import logger from '@adonisjs/core/services/logger'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import env from '#start/env'
import { ProblemException } from '#app/http/problem'
import { checkOutboundUrl, isOutboundRefusal, outboundRequest } from '#app/http/outbound'
import { isUuid, newId } from '#app/platform/ids'
import { jobQueue } from '#app/platform/job_queue'
import { wakeTaskAfterCommit } from '#app/platform/background'
import type { EventEnvelope } from '#app/messaging/types'
import { DateTime } from 'luxon'
import Webhook from '#modules/notifications/models/webhook'
import WebhookDelivery from '#modules/notifications/models/webhook_delivery'

/** The background task that delivers queued webhook calls (module.ts). */
export const DELIVER_WEBHOOKS = 'notifications.deliver_webhooks'

const PURPOSE = 'notifications.webhook_secret'

/** What the delivery log says about a failed attempt: never more than the receiver's owner needs. */
function describeFailure(failure: unknown) {
  if (isOutboundRefusal(failure)) return 'destination not allowed'
  const { name, code } = failure as { name?: string; code?: string }
  if (
    name === 'TimeoutError' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  )
    return 'timed out'
  return `unreachable${code ? ` (${code})` : ''}`
}
const TIMEOUT_MS = 10_000

/**
 * `Atrium-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`,
 * keyed by the webhook's secret. Receivers recompute it over the raw body and
 * refuse old timestamps (replays).
 */
export function sign(secret: string | string[], timestamp: number, body: string) {
  // While a rotated secret's grace period runs, one v1 per secret (newest first): a
  // receiver that knows either verifies the delivery.
  const digests = (Array.isArray(secret) ? secret : [secret]).map(
    (key) => `v1=${createHmac('sha256', key).update(`${timestamp}.${body}`).digest('hex')}`
  )
  return `t=${timestamp},${digests.join(',')}`
}

const newSecret = () => `whsec_${randomBytes(24).toString('base64url')}`
const DEFAULT_GRACE_SECONDS = 24 * 3600

/** The secrets that sign now: the current one, and the previous one while its grace period runs. */
function signingSecrets(row: {
  secret_encrypted: string
  previous_secret_encrypted: string | null
  previous_secret_expires_at: Date | string | null
}) {
  const secrets = [encryption.decrypt<string>(row.secret_encrypted, PURPOSE)!]
  const expires = row.previous_secret_expires_at
  if (row.previous_secret_encrypted && expires && new Date(expires).getTime() > Date.now()) {
    secrets.push(encryption.decrypt<string>(row.previous_secret_encrypted, PURPOSE)!)
  }
  return secrets
}

/** Only http(s) URLs without credentials; production also insists on https. */
/** A webhook URL as stored: http(s) (https in production), no credentials, not a local address. */
export function checkWebhookUrl(value: string) {
  return checkOutboundUrl(value, {
    field: 'url',
    what: 'webhook URL',
    httpsOnly: env.get('NODE_ENV') === 'production',
  })
}

const notFound = () => new ProblemException(404, 'webhook_not_found', 'No such webhook.')

async function find(trx: TransactionClientContract, id: string) {
  const webhook = isUuid(id)
    ? await Webhook.query({ client: trx }).where('id', id).whereNull('deleted_at').first()
    : null
  if (!webhook) throw notFound()
  return webhook
}

export const webhooks = {
  async create(
    trx: TransactionClientContract,
    tenantId: string,
    input: { url: string; eventTypes: string[]; description?: string | null }
  ) {
    const url = checkWebhookUrl(input.url)
    // Serialises creations per tenant so two at once cannot both pass the cap.
    await trx.rawQuery(`SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, [
      `notifications_webhooks:${tenantId}`,
    ])
    const cap = env.get('WEBHOOKS_MAX_PER_TENANT') ?? 20
    const existing = await trx
      .from('notifications_webhooks')
      .where('tenant_id', tenantId)
      .whereNull('deleted_at')
      .count('* as n')
      .first()
    if (Number(existing?.n ?? 0) >= cap) {
      throw new ProblemException(
        409,
        'webhook_limit_reached',
        `A tenant may have ${cap} webhooks; delete one first (WEBHOOKS_MAX_PER_TENANT).`
      )
    }
    const secret = newSecret()
    const webhook = await Webhook.create(
      {
        id: newId(),
        tenantId,
        url,
        eventTypes: input.eventTypes,
        description: input.description ?? null,
        secretEncrypted: encryption.encrypt(secret, undefined, PURPOSE),
        previousSecretEncrypted: null,
        previousSecretExpiresAt: null,
        active: true,
        consecutiveFailures: 0,
        disabledAt: null,
        disabledReason: null,
        deletedAt: null,
      },
      { client: trx }
    )
    return { ...webhook.serialize(), secret }
  },

  async list(trx: TransactionClientContract) {
    const list = await Webhook.query({ client: trx }).whereNull('deleted_at').orderBy('id')
    return list.map((webhook) => webhook.serialize())
  },

  async get(trx: TransactionClientContract, id: string) {
    const webhook = await find(trx, id)
    return webhook.serialize()
  },

  /**
   * Changes the URL, the event types, the description, or whether it is
   * enabled. Enabling again (after the automatic disable or a manual one)
   * clears the failure count, so it gets a full run of attempts.
   */
  async update(
    trx: TransactionClientContract,
    id: string,
    input: {
      url?: string
      eventTypes?: string[]
      description?: string | null
      enabled?: boolean
    }
  ) {
    const webhook = await find(trx, id)
    if (input.url !== undefined) webhook.url = checkWebhookUrl(input.url)
    if (input.eventTypes !== undefined) webhook.eventTypes = input.eventTypes
    if (input.description !== undefined) webhook.description = input.description
    if (input.enabled === true && !webhook.active) {
      webhook.merge({
        active: true,
        consecutiveFailures: 0,
        disabledAt: null,
        disabledReason: null,
      })
    } else if (input.enabled === false && webhook.active) {
      webhook.merge({
        active: false,
        disabledAt: DateTime.now(),
        disabledReason: 'disabled by an admin',
      })
    }
    await webhook.useTransaction(trx).save()
    return webhook.serialize()
  },

  /**
   * A new secret, shown once. The old one keeps signing (a second v1 in
   * Atrium-Signature) for `gracePeriodSeconds` — default 24 h, 0 for none —
   * so receivers can switch over without failing a delivery.
   */
  async rotateSecret(trx: TransactionClientContract, id: string, gracePeriodSeconds?: number) {
    const webhook = await find(trx, id)
    const grace = gracePeriodSeconds ?? DEFAULT_GRACE_SECONDS
    const secret = newSecret()
    webhook.merge({
      previousSecretEncrypted: grace > 0 ? webhook.secretEncrypted : null,
      previousSecretExpiresAt: grace > 0 ? DateTime.now().plus({ seconds: grace }) : null,
      secretEncrypted: encryption.encrypt(secret, undefined, PURPOSE),
    })
    await webhook.useTransaction(trx).save()
    return { ...webhook.serialize(), secret }
  },

  /**
   * A `webhook.ping` delivery, written to the log now and sent by the caller
   * outside this unit of work (`sendNow`).
   */
  async queuePing(trx: TransactionClientContract, tenantId: string, id: string) {
    const webhook = await find(trx, id)
    const eventId = newId()
    const deliveryId = newId()
    const leaseSeconds = 30
    await trx.table('notifications_webhook_deliveries').insert({
      id: deliveryId,
      tenant_id: tenantId,
      webhook_id: webhook.id,
      event_id: eventId,
      event_type: PING_EVENT,
      payload: JSON.stringify({
        id: eventId,
        type: PING_EVENT,
        createdAt: new Date().toISOString(),
        data: { webhookId: webhook.id, message: 'A test delivery from Atrium.' },
      }),
      // Claimed by this request: a worker leaves it alone while it is being sent.
      attempts: 1,
      next_attempt_at: trx.raw(`now() + make_interval(secs => ?)`, [leaseSeconds]),
    })
    return deliveryId
  },

  /** One delivery's log entry (after a test was sent). */
  async delivery(trx: TransactionClientContract, id: string) {
    const delivery = await WebhookDelivery.query({ client: trx }).where('id', id).firstOrFail()
    return delivery.serialize()
  },

  /** Soft delete: the delivery log stays for audits; no further deliveries. */
  async remove(trx: TransactionClientContract, id: string) {
    const webhook = await find(trx, id)
    await webhook.useTransaction(trx).merge({ deletedAt: DateTime.now(), active: false }).save()
  },

  async deliveries(trx: TransactionClientContract, id: string) {
    await find(trx, id)
    const log = await WebhookDelivery.query({ client: trx })
      .where('webhook_id', id)
      .orderBy('id', 'desc')
      .limit(100)
    return log.map((delivery) => delivery.serialize())
  },

  /**
   * In the events' unit of work: one delivery per event and active webhook
   * that wants its type — one read of the webhooks and one insert for a
   * whole batch (the events of one tenant, as a batch subscriber gets them).
   */
  async fanOut(trx: TransactionClientContract, tenantId: string, events: EventEnvelope[]) {
    const types = [...new Set(events.map((event) => event.type))]
    const targets = (await trx
      .from('notifications_webhooks')
      .where('active', true)
      .whereNull('deleted_at')
      .whereRaw('event_types && ?::text[]', [types])
      .select('id', 'event_types')) as Array<{ id: string; event_types: string[] }>
    const deliveries = events.flatMap((event) =>
      targets
        .filter((target) => target.event_types.includes(event.type))
        .map((target) => ({
          id: newId(),
          tenant_id: tenantId,
          webhook_id: target.id,
          event_id: event.id,
          event_type: event.type,
          payload: JSON.stringify({
            id: event.id,
            type: event.type,
            createdAt: event.occurredAt,
            data: event.payload,
          }),
        }))
    )
    if (deliveries.length === 0) return
    await wakeTaskAfterCommit(trx, DELIVER_WEBHOOKS)
    await trx
      .table('notifications_webhook_deliveries')
      .multiInsert(deliveries)
      .onConflict(['webhook_id', 'event_id'])
      .ignore()
  },
}

/** What a test sends: a signed delivery like any other, of a type no module publishes. */
export const PING_EVENT = 'webhook.ping'

interface ClaimedDelivery {
  id: string
  webhook_id: string
  event_type: string
  payload: unknown
  attempts: number
  url: string
  secret_encrypted: string
  previous_secret_encrypted: string | null
  previous_secret_expires_at: Date | string | null
}

const CLAIM_COLUMNS =
  't.id, t.webhook_id, t.event_type, t.payload, t.attempts, w.url, w.secret_encrypted, w.previous_secret_encrypted, w.previous_secret_expires_at, w.active'

/**
 * Sends one delivery now (a test from the API), even to a disabled webhook —
 * testing is how an admin finds out whether to enable it again.
 */
export async function sendNow(deliveryId: string) {
  const { rows } = await db.rawQuery(
    `SELECT ${CLAIM_COLUMNS} FROM notifications_webhook_deliveries t
       JOIN notifications_webhooks w ON w.id = t.webhook_id
      WHERE t.id = ?`,
    [deliveryId]
  )
  if (rows[0]) await deliver({ ...rows[0], active: true })
}

/** Milliseconds until a webhook delivery is next due (a retry's backoff); null when none waits. */
export function webhooksNextDueMs() {
  return webhookQueue.nextDueMs()
}

/**
 * Background task: POSTs due deliveries (claimed by a 30 s lease — three
 * times the request timeout — across tenants,
 * so several workers never send the same one at the same time). 2xx is
 * delivered; anything else or a timeout is retried with exponential backoff
 * up to WEBHOOK_MAX_ATTEMPTS (8); WEBHOOK_DISABLE_AFTER (10) failures in a
 * row disable the endpoint.
 */
export async function deliverDueWebhooks(limit = 20): Promise<number> {
  const rows = await webhookQueue.claim<ClaimedDelivery & { active: boolean }>({
    limit,
    leaseSeconds: 30,
    join: { from: 'notifications_webhooks w', on: 'w.id = t.webhook_id' },
    returning: CLAIM_COLUMNS,
    // A lease: lost in a database crash, the delivery is claimed again (receivers get it at least once).
    commitWithoutFlush: true,
    prepared: true,
  })
  await Promise.all(rows.map(deliver))
  return rows.length
}

/** notifications_webhook_deliveries: one row per (webhook, event), the log tenants read. */
const webhookQueue = jobQueue({
  table: 'notifications_webhook_deliveries',
  dueColumn: 'next_attempt_at',
  stateColumn: 'status',
  states: { claimable: ['pending'], pending: 'pending', dead: 'failed' },
  maxAttempts: () => env.get('WEBHOOK_MAX_ATTEMPTS') ?? 8,
  backoff: () => ({ baseMs: env.get('WEBHOOK_RETRY_BASE_MS') ?? 10_000, maxMs: 6 * 3600 * 1000 }),
})

async function deliver(delivery: ClaimedDelivery & { active: boolean }) {
  if (!delivery.active) {
    await db
      .from('notifications_webhook_deliveries')
      .where('id', delivery.id)
      .update({
        status: 'failed',
        last_error: 'webhook disabled or deleted',
        updated_at: db.raw('now()'),
      })
    return
  }
  const body = JSON.stringify(delivery.payload)
  const secrets = signingSecrets(delivery)
  const started = performance.now()
  let status: number | null = null
  let error: string | null = null
  try {
    // Through the kernel's outbound client: the receiver's address is checked at connect
    // time (no loopback or private network), and a redirect is an answer, not followed.
    const response = await outboundRequest(delivery.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Atrium-Webhooks/1',
        'atrium-event': delivery.event_type,
        'atrium-delivery': delivery.id,
        'atrium-signature': sign(secrets, Math.floor(Date.now() / 1000), body),
      },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
      silenceMs: TIMEOUT_MS,
    })
    status = response.statusCode
    await response.body.dump()
    if (status < 200 || status >= 300) error = `answered ${status}`
  } catch (failure) {
    error = describeFailure(failure)
  }
  const durationMs = Math.round(performance.now() - started)
  if (!error) {
    await db.transaction(async (trx) => {
      await trx
        .from('notifications_webhook_deliveries')
        .where('id', delivery.id)
        .update({
          status: 'delivered',
          last_status_code: status,
          last_error: null,
          last_duration_ms: durationMs,
          delivered_at: trx.raw('now()'),
          updated_at: trx.raw('now()'),
        })
      await trx
        .from('notifications_webhooks')
        .where('id', delivery.webhook_id)
        .update({ consecutive_failures: 0 })
    })
    return
  }
  const disableAfter = env.get('WEBHOOK_DISABLE_AFTER') ?? 10
  await db.transaction(async (trx) => {
    await webhookQueue.fail(
      delivery,
      {
        last_status_code: status,
        last_error: error!.slice(0, 500),
        last_duration_ms: durationMs,
        updated_at: trx.raw('now()'),
      },
      { client: trx }
    )
    const [webhook] = await trx
      .from('notifications_webhooks')
      .where('id', delivery.webhook_id)
      .increment('consecutive_failures', 1)
      .returning(['consecutive_failures', 'active'])
    if (webhook.active && webhook.consecutive_failures >= disableAfter) {
      await trx
        .from('notifications_webhooks')
        .where('id', delivery.webhook_id)
        .update({
          active: false,
          disabled_at: trx.raw('now()'),
          disabled_reason:
            `${webhook.consecutive_failures} failed deliveries in a row (last: ${error})`.slice(
              0,
              300
            ),
        })
      logger.warn({ webhook: delivery.webhook_id }, 'webhook disabled after a run of failures')
    }
  })
}
