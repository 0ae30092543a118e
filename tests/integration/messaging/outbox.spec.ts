import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import env from '#start/env'
import { tenancy } from '#app/tenancy/tenancy'
import { events } from '#app/messaging/outbox'
import { subscribe, subscribeBatch, subscription, unsubscribe } from '#app/messaging/subscribers'
import { runSubscribersTogether } from '#app/messaging/handling'
import {
  DELIVERIES_CHANNEL,
  localTransport,
  RELAYED_HERE,
  relayBatch,
  type Handoff,
  type Transport,
} from '#app/messaging/relay'
import { eventsNextDueMs, processDeliveries } from '#app/messaging/deliveries'
import { loopWokenBy, MessagingWorker } from '#app/messaging/worker'
import { onRelayWake, OUTBOX_CHANNEL, relayWakesSent } from '#app/messaging/outbox'
import { OPERATIONS_CHANNEL } from '#app/operations/operations'
import pg from 'pg'
import type { TransactionClientContract } from '@adonisjs/lucid/types/database'
import { isUuid, newId } from '#app/platform/ids'
import { tenantIsolationSql } from '#app/tenancy/sql'
import { busStatus, deadLetters, replayDeadLetters } from '#app/messaging/admin'
import { childEnv, runNode } from '#tests/helpers/processes'
import { resetBus } from '#tests/helpers/messaging'
import { until } from '#tests/helpers/waiting'
import { listenTo } from '#tests/helpers/listening'
import { statementsSentDuring } from '#tests/helpers/sql_spy'
import { batchesSplit } from '#app/messaging/metrics'
import { registerBackgroundTask } from '#app/platform/background'
import { defineOperation, postgresOperations, startOperation } from '#app/operations/operations'

declare module '#app/messaging/types' {
  interface IntegrationEvents {
    'test.widget_created': { version: 1; payload: { widgetId: string; name: string } }
  }
}

const EFFECTS = 'test_messaging_effects'
const FAST = { baseBackoffMs: 1, maxBackoffMs: 1 }
const tenant = newId()

async function resetTables() {
  await resetBus()
  await db.rawQuery(`CREATE TABLE IF NOT EXISTS ${EFFECTS} (
    id uuid PRIMARY KEY, tenant_id uuid NOT NULL, event_id uuid NOT NULL, subscriber text NOT NULL, name text NOT NULL)`)
  for (const statement of tenantIsolationSql(EFFECTS)) await db.rawQuery(statement)
  await db.rawQuery(`TRUNCATE ${EFFECTS}`)
}

async function publishWidget(
  name: string,
  options: { availableAt?: Date; tenantId?: string } = {}
) {
  const { tenantId = tenant, availableAt } = options
  return tenancy.run(tenantId, (trx) =>
    events.publish(
      trx,
      'test.widget_created',
      { widgetId: newId(), name },
      { version: 1, tenantId, availableAt }
    )
  )
}

/** `count` events of one tenant, published in one unit of work. */
async function publishMany(tenantId: string, count: number) {
  await tenancy.run(tenantId, async (trx) => {
    for (let index = 0; index < count; index++) {
      await events.publish(
        trx,
        'test.widget_created',
        { widgetId: newId(), name: `${tenantId.slice(-4)}-${index}` },
        { version: 1, tenantId }
      )
    }
  })
}

/** A subscriber whose effect is a row: counting rows counts effects. */
function recordingSubscriber(name: string, behaviour: (eventName: string) => void = () => {}) {
  subscribe(
    'test.widget_created',
    name,
    async (event, trx) => {
      behaviour(event.payload.name)
      await trx.table(EFFECTS).insert({
        id: newId(),
        tenant_id: event.tenantId,
        event_id: event.id,
        subscriber: name,
        name: event.payload.name,
      })
    },
    { maxAttempts: 4 }
  )
}

/**
 * A worker with a recording subscriber, asleep on a 30 s poll once started:
 * only a notification (or its own loop) can make it act in a test's time.
 */
async function sleepingWorker(options: { batchSize?: number } = {}) {
  recordingSubscriber('test.record_a')
  const worker = new MessagingWorker({
    connectionString: env.get('DATABASE_URL')!,
    pollIntervalMs: 30_000,
    ...options,
    ...FAST,
  })
  await worker.start()
  if (!(await until(async () => worker.idle))) {
    await worker.stop()
    throw new Error('the worker never went idle')
  }
  return worker
}

async function drain() {
  for (let pass = 0; pass < 50; pass++) {
    const relayed = await relayBatch()
    const outcomes = await processDeliveries({ ...FAST, leaseSeconds: 0 })
    if (relayed === 0 && outcomes.length === 0) return
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/**
 * Sends a NOTIFY of its own on the deliveries channel and returns its payload: once a listener
 * has heard it, it has heard everything committed before it too (notifications arrive in commit
 * order), so a NOTIFY that never came is known not to have been sent.
 */
async function notifyProbe() {
  const payload = `probe ${newId()}`
  await db.rawQuery('SELECT pg_notify(?, ?)', [DELIVERIES_CHANNEL, payload])
  return payload
}

async function effects(where: Record<string, unknown> = {}) {
  return db.from(EFFECTS).where(where).orderBy('name')
}

/** A widget event of `tenant`, published in the caller's unit of work. */
function widgetIn(trx: TransactionClientContract, name: string) {
  return events.publish(
    trx,
    'test.widget_created',
    { widgetId: newId(), name },
    { version: 1, tenantId: tenant }
  )
}

/** A unit of work that publishes and then fails: `wakes()` must not have moved. */
async function assertRollbackWakesNobody(
  wakes: () => number,
  assert: { equal(actual: unknown, expected: unknown, message?: string): void }
) {
  const before = wakes()
  await tenancy
    .run(tenant, async (trx) => {
      await widgetIn(trx, 'rolled back')
      throw new Error('rolled back')
    })
    .catch(() => null)
  await relayWakesSent()
  assert.equal(wakes(), before, 'a rollback wakes nobody')
}

/** The names of the effects recorded, in name order. */
async function effectNames() {
  const rows = await effects()
  return rows.map((row) => row.name as string)
}

test.group('outbox, relay and deliveries', (group) => {
  group.each.setup(async () => {
    await resetTables()
    return () => {
      for (const name of ['test.record_a', 'test.record_b', 'test.flaky', 'test.poison'])
        unsubscribe(name)
    }
  })

  test('an event published in a committed unit of work reaches every subscriber once', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    recordingSubscriber('test.record_b')
    const eventId = await publishWidget('bolt')
    await drain()
    const rows = await effects()
    assert.sameMembers(
      rows.map(
        (row) =>
          `${row.subscriber}:${row.name}:${row.event_id === eventId}:${row.tenant_id === tenant}`
      ),
      ['test.record_a:bolt:true:true', 'test.record_b:bolt:true:true']
    )
    const outbox = await db.from('messaging_outbox').where('id', eventId).firstOrFail()
    assert.isNotNull(outbox.dispatched_at)
  })

  test('a rolled-back unit of work publishes nothing', async ({ assert }) => {
    recordingSubscriber('test.record_a')
    await assert.rejects(() =>
      tenancy.run(tenant, async (trx) => {
        await events.publish(
          trx,
          'test.widget_created',
          { widgetId: newId(), name: 'ghost' },
          { version: 1, tenantId: tenant }
        )
        throw new Error('boom')
      })
    )
    await drain()
    const [{ count }] = await db.from('messaging_outbox').count('* as count')
    assert.equal(Number(count), 0)
    assert.lengthOf(await effects(), 0)
  })

  test('tenant code cannot publish for another tenant', async ({ assert }) => {
    const other = newId()
    await assert.rejects(() =>
      tenancy.run(tenant, (trx) =>
        events.publish(
          trx,
          'test.widget_created',
          { widgetId: newId(), name: 'x' },
          { version: 1, tenantId: other }
        )
      )
    )
  })

  test('publishMany writes its events in one statement, in order, and each reaches its subscriber', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    let ids: string[] = []
    const sent = await statementsSentDuring(async () => {
      ids = await tenancy.run(tenant, (trx) =>
        events.publishMany(
          trx,
          ['m1', 'm2', 'm3'].map((name) => ({
            type: 'test.widget_created' as const,
            payload: { widgetId: newId(), name },
            options: { version: 1 as const, tenantId: tenant, aggregateId: name },
          }))
        )
      )
    })
    assert.lengthOf(
      sent.filter((statement) => statement.includes('INSERT INTO messaging_outbox')),
      1
    )
    const stored = await db.from('messaging_outbox').whereIn('id', ids)
    const byId = new Map(stored.map((row) => [row.id as string, row]))
    assert.deepEqual(
      ids.map((id) => [byId.get(id)?.aggregate_id, byId.get(id)?.payload.name]),
      [
        ['m1', 'm1'],
        ['m2', 'm2'],
        ['m3', 'm3'],
      ]
    )
    await drain()
    assert.deepEqual(await effectNames(), ['m1', 'm2', 'm3'])
  })

  test('publishMany in one tenant’s unit of work cannot publish for another tenant', async ({
    assert,
  }) => {
    const widget = (tenantId: string) => ({
      type: 'test.widget_created' as const,
      payload: { widgetId: newId(), name: 'sneaky' },
      options: { version: 1 as const, tenantId },
    })
    await assert.rejects(() =>
      tenancy.run(tenant, (trx) => events.publishMany(trx, [widget(tenant), widget(newId())]))
    )
    assert.lengthOf(await db.from('messaging_outbox'), 0)
  })

  test('events.statement publishes in a one-trip write, only where its condition holds', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    const widget = (name: string) => ({
      type: 'test.widget_created' as const,
      payload: { widgetId: newId(), name },
      options: { version: 1 as const, tenantId: tenant },
    })
    // The condition numbers its values from $1; they follow the statement's own.
    const kept = events.statement([widget('kept')], {
      onlyIf: { sql: '$1::int > $2::int', values: [1, 2] },
    })
    const published = events.statement([widget('published')], {
      onlyIf: { sql: '$1::int < $2::int', values: [1, 2] },
    })
    const plain = events.statement([widget('plain')])
    await tenancy.write({ tenantId: tenant }, [kept, published, plain])

    assert.lengthOf(await db.from('messaging_outbox').whereIn('id', kept.ids), 0)
    assert.lengthOf(
      await db.from('messaging_outbox').whereIn('id', [...published.ids, ...plain.ids]),
      2
    )
    await drain()
    assert.sameMembers(await effectNames(), ['published', 'plain'])

    // Another tenant's event fails the whole write, as in a unit of work.
    const mine = events.statement([widget('mine')])
    const foreign = events.statement([
      { ...widget('sneaky'), options: { version: 1, tenantId: newId() } },
    ])
    await assert.rejects(() => tenancy.write({ tenantId: tenant }, [mine, foreign]))
    assert.lengthOf(
      await db.from('messaging_outbox').whereIn('id', [...mine.ids, ...foreign.ids]),
      0
    )
  })

  test('two relays at once dispatch every event exactly once', async ({ assert }) => {
    recordingSubscriber('test.record_a')
    await tenancy.run(tenant, async (trx) => {
      for (let index = 0; index < 300; index++) {
        await events.publish(
          trx,
          'test.widget_created',
          { widgetId: newId(), name: `w${index}` },
          { version: 1, tenantId: tenant }
        )
      }
    })
    const relay = async () => {
      let total = 0
      for (;;) {
        const dispatched = await relayBatch(undefined, 7)
        if (dispatched === 0) return total
        total += dispatched
      }
    }
    const [first, second] = await Promise.all([relay(), relay()])
    assert.equal(first + second, 300)
    assert.isAbove(first, 0)
    assert.isAbove(second, 0)
    const [{ count }] = await db.from('messaging_deliveries').count('* as count')
    assert.equal(Number(count), 300)
  })

  test('a handler that throws three times then succeeds has one effect', async ({ assert }) => {
    let calls = 0
    recordingSubscriber('test.flaky', () => {
      calls++
      if (calls <= 3) throw new Error(`transient failure ${calls}`)
    })
    await publishWidget('flaky')
    await drain()
    assert.equal(calls, 4)
    assert.lengthOf(await effects(), 1)
    const delivery = await db
      .from('messaging_deliveries')
      .where('subscriber', 'test.flaky')
      .firstOrFail()
    assert.deepInclude(delivery, { state: 'done', attempts: 4 })
  })

  test('a poison event becomes a dead letter; the others keep flowing', async ({ assert }) => {
    recordingSubscriber('test.poison', (name) => {
      if (name === 'poison') throw new Error('cannot handle this one')
    })
    await publishWidget('before')
    await publishWidget('poison')
    await publishWidget('after')
    await drain()
    assert.deepEqual(await effectNames(), ['after', 'before'])
    const dead = await db.from('messaging_deliveries').where('state', 'dead')
    assert.lengthOf(dead, 1)
    assert.equal(dead[0].attempts, 4)
    assert.include(dead[0].last_error, 'cannot handle this one')
  })

  test('a redelivered event is acknowledged without a second effect (inbox)', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    await publishWidget('once')
    await drain()
    // As if the worker crashed after the handler committed but before marking the delivery done.
    await db
      .from('messaging_deliveries')
      .update({ state: 'pending', available_at: db.raw('now()') })
    const outcomes = await processDeliveries(FAST)
    assert.deepEqual(outcomes, ['duplicate'])
    assert.lengthOf(await effects(), 1)
  })

  test('a claimed delivery whose worker died comes back after its lease', async ({ assert }) => {
    recordingSubscriber('test.record_a')
    await publishWidget('leased')
    await relayBatch()
    // A worker claims (leases) the delivery and dies before handling it.
    await db.rawQuery(
      `UPDATE messaging_deliveries SET attempts = attempts + 1, available_at = now() + interval '1 hour'`
    )
    assert.deepEqual(await processDeliveries(FAST), [])
    await db
      .from('messaging_deliveries')
      .update({ available_at: db.raw(`now() - interval '1 second'`) })
    assert.deepEqual(await processDeliveries(FAST), ['handled'])
    assert.lengthOf(await effects(), 1)
  })

  test('a delayed event is not relayed before its time', async ({ assert }) => {
    recordingSubscriber('test.record_a')
    await publishWidget('later', { availableAt: new Date(Date.now() + 60_000) })
    await drain()
    assert.lengthOf(await effects(), 0)
    await db
      .from('messaging_outbox')
      .update({ available_at: db.raw(`now() - interval '1 second'`) })
    await drain()
    assert.lengthOf(await effects(), 1)
  })

  test('the worker handles what its own relay wrote without claiming it back', async ({
    assert,
  }) => {
    const worker = await sleepingWorker()
    try {
      const sent = await statementsSentDuring(async () => {
        await publishWidget('relayed here')
        const handled = async () => {
          const seen = await effects()
          return seen.length === 1
        }
        assert.isTrue(await until(handled, 10_000))
      })
      assert.isTrue(
        sent.some((statement) => statement.includes('INSERT INTO messaging_deliveries')),
        'relayed by this worker'
      )
      assert.lengthOf(
        sent.filter((statement) => /UPDATE\s+"?messaging_deliveries/i.test(statement)),
        0,
        'no claim'
      )
      const [delivery] = await db.from('messaging_deliveries').select('state', 'attempts')
      assert.deepEqual(delivery, { state: 'done', attempts: 1 })
    } finally {
      await worker.stop()
    }
  })

  test('the worker wakes on NOTIFY and handles a fresh event well before its poll interval', async ({
    assert,
  }) => {
    const worker = await sleepingWorker()
    const other = new pg.Client({ connectionString: env.get('DATABASE_URL')! })
    await other.connect()
    try {
      const started = Date.now()
      // As another process publishes: its commit, then its wake-up (outbox.ts, wakeRelay).
      await other.query(
        `INSERT INTO messaging_outbox (id, type, version, tenant_id, payload, occurred_at, available_at)
         VALUES ($1, 'test.widget_created', 1, $2, $3, now(), now())`,
        [newId(), tenant, JSON.stringify({ widgetId: newId(), name: 'live' })]
      )
      await other.query('SELECT pg_notify($1, $2)', [OUTBOX_CHANNEL, ''])
      assert.isTrue(
        await until(async () => {
          const seen = await effects()
          return seen.length === 1
        }, 10_000)
      )
      assert.isBelow(Date.now() - started, 10_000)
    } finally {
      await other.end()
      await worker.stop()
    }
  })

  test('events committed here wake this process’s worker at the commit, with no NOTIFY', async ({
    assert,
    cleanup,
  }) => {
    let woken = 0
    cleanup(onRelayWake(() => woken++))
    const heard = await listenTo(OUTBOX_CHANNEL, cleanup)
    await tenancy.run(tenant, async (trx) => {
      await widgetIn(trx, 'a')
      await widgetIn(trx, 'b')
      assert.equal(woken, 0, 'not before the commit')
    })
    assert.equal(woken, 1, 'once for the unit of work')
    await assertRollbackWakesNobody(() => woken, assert)
    // A round trip of the listener's own: a NOTIFY sent before it would have arrived by now.
    await heard.settle()
    assert.deepEqual(heard.payloads, [])
  })

  test('with no worker here, commits at once share a NOTIFY rather than sending one each', async ({
    assert,
    cleanup,
  }) => {
    const heard = await listenTo(OUTBOX_CHANNEL, cleanup)
    await Promise.all(Array.from({ length: 20 }, (_, index) => publishWidget(`w${index}`)))
    await relayWakesSent()
    await heard.settle()
    assert.isAtLeast(heard.payloads.length, 1)
    // One on its way at a time, and one more after it for whatever committed meanwhile: a
    // NOTIFY in each publishing transaction was one per commit, 20.
    assert.isBelow(heard.payloads.length, 20, `${heard.payloads.length} NOTIFYs for 20 commits`)
    await assertRollbackWakesNobody(() => heard.payloads.length, assert)
  })

  test('a publish inside a savepoint wakes nobody before the whole transaction commits', async ({
    assert,
    cleanup,
  }) => {
    let woken = 0
    cleanup(onRelayWake(() => woken++))
    const heard = await listenTo(OUTBOX_CHANNEL, cleanup)
    await tenancy.run(tenant, async (trx) => {
      await trx.transaction(async (savepoint) => {
        await widgetIn(savepoint, 'nested')
      })
      await heard.settle()
      assert.deepEqual(heard.payloads, [], 'the savepoint released, the transaction still open')
    })
    assert.isTrue(await until(async () => heard.payloads.length === 1, 10_000))
    // The NOTIFY rode in the transaction: the savepoint's release called nobody directly.
    assert.equal(woken, 0)
  })

  test('what one relay batch writes for a subscriber, one claim takes: a burst of 100 in one pass', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    await publishMany(tenant, 100)
    assert.equal(await relayBatch(), 100)
    const outcomes = await processDeliveries(FAST)
    assert.lengthOf(outcomes, 100)
    assert.isTrue(outcomes.every((outcome) => outcome === 'handled'))
    assert.lengthOf(await effects(), 100)
  })

  test('a pass whose claim comes back full is followed by another at once, not by the poll', async ({
    assert,
  }) => {
    const worker = await sleepingWorker({ batchSize: 2 })
    try {
      // Seven events, one NOTIFY: the passes take two deliveries each and go on while full.
      await publishMany(tenant, 7)
      assert.isTrue(
        await until(async () => {
          const seen = await effects()
          return seen.length === 7
        }, 10_000)
      )
    } finally {
      await worker.stop()
    }
  })

  test('deliveries this process relayed do not wake its loop again; others’ do', async ({
    assert,
  }) => {
    assert.isNull(loopWokenBy(DELIVERIES_CHANNEL, RELAYED_HERE))
    assert.equal(loopWokenBy(DELIVERIES_CHANNEL, ''), 'events')
    assert.equal(loopWokenBy(DELIVERIES_CHANNEL, 'another process'), 'events')
    assert.equal(loopWokenBy(OUTBOX_CHANNEL, RELAYED_HERE), 'events')
    assert.equal(loopWokenBy(OPERATIONS_CHANNEL, ''), 'operations')
  })

  test('a relay wakes other processes only for deliveries of subscribers this one does not consume', async ({
    assert,
    cleanup,
  }) => {
    const notified: string[] = []
    const listener = new pg.Client({ connectionString: env.get('DATABASE_URL')! })
    await listener.connect()
    cleanup(() => listener.end())
    listener.on('notification', ({ payload }) => notified.push(payload ?? ''))
    await listener.query(`LISTEN ${DELIVERIES_CHANNEL}`)
    recordingSubscriber('test.record_a')
    // Every subscriber consumed here: this process's pass handles them next; nobody is woken.
    await publishWidget('mine')
    assert.equal(await relayBatch(), 1)
    const probe = await notifyProbe()
    assert.isTrue(await until(async () => notified.includes(probe), 10_000))
    assert.deepEqual(notified, [probe])
    // This process mounts only `system` now: `test.record_a` is consumed elsewhere.
    const selection = env.get('ATRIUM_MODULES')
    env.set('ATRIUM_MODULES', 'system')
    const handoff: Handoff = { leaseSeconds: 60, limit: 100, deliveries: [] }
    try {
      const theirs = await publishWidget('theirs')
      assert.equal(await relayBatch(localTransport, 100, handoff), 1)
      // Nor is it leased to this process: it is due now, for the process that consumes it.
      assert.deepEqual(handoff.deliveries, [])
      const [delivery] = await db
        .from('messaging_deliveries')
        .where('event_id', theirs)
        .select('attempts', db.raw('available_at <= now() AS due'))
      assert.deepEqual(delivery, { attempts: 0, due: true })
    } finally {
      env.set('ATRIUM_MODULES', selection ?? '')
    }
    // What it sends is this process's mark (its own loop ignores it).
    assert.isTrue(await until(async () => notified.length === 2, 10_000))
    assert.deepEqual(notified, [probe, RELAYED_HERE])
    assert.lengthOf(await db.from('messaging_deliveries'), 2)
  })

  test('the events loop asks once when work is next due: a delayed event or a delivery it consumes, whichever is first', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    assert.isNull(await eventsNextDueMs(), 'nothing waits')
    await publishWidget('later', { availableAt: new Date(Date.now() + 5000) })
    const untilEvent = await eventsNextDueMs()
    assert.isTrue(untilEvent! > 4000 && untilEvent! <= 5000, `${untilEvent} ms`)

    // A delivery of this subscriber, due in 2 s (a retry's backoff): sooner, so it is the answer.
    await publishWidget('retried')
    await relayBatch()
    await db
      .from('messaging_deliveries')
      .update({ available_at: db.raw(`now() + interval '2 seconds'`) })
    const untilRetry = await eventsNextDueMs()
    assert.isTrue(untilRetry! > 1000 && untilRetry! <= 2000, `${untilRetry} ms`)

    // Deliveries of subscribers mounted elsewhere are another process's to wait for.
    const selection = env.get('ATRIUM_MODULES')
    env.set('ATRIUM_MODULES', 'system')
    try {
      const untilOwn = await eventsNextDueMs()
      assert.isTrue(untilOwn! > 4000 && untilOwn! <= 5000, `${untilOwn} ms`)
    } finally {
      env.set('ATRIUM_MODULES', selection ?? '')
    }
  })

  test('a relay hands its pass the deliveries it writes for this process, leased: they are handled without a claim', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    for (const name of ['h1', 'h2']) await publishWidget(name)
    const handoff: Handoff = { leaseSeconds: 60, limit: 100, deliveries: [] }
    assert.equal(await relayBatch(localTransport, 100, handoff), 2)
    assert.deepEqual(
      handoff.deliveries.map((delivery) => [
        delivery.subscriber,
        (delivery.event.payload as { name: string }).name,
      ]),
      [
        ['test.record_a', 'h1'],
        ['test.record_a', 'h2'],
      ]
    )
    // Leased as a claim leaves a delivery (its attempt counted, due a lease ahead): no claim takes them.
    const rows = await db
      .from('messaging_deliveries')
      .select('attempts', db.raw(`available_at > now() + interval '50 seconds' AS leased`))
    assert.deepEqual(rows, [
      { attempts: 1, leased: true },
      { attempts: 1, leased: true },
    ])
    assert.deepEqual(await processDeliveries(FAST), [])
    const sent = await statementsSentDuring(async () => {
      assert.deepEqual(
        await processDeliveries(FAST, { deliveries: handoff.deliveries, claim: false }),
        ['handled', 'handled']
      )
    })
    assert.lengthOf(
      sent.filter((statement) => /UPDATE\s+"?messaging_deliveries/i.test(statement)),
      0,
      'no claim'
    )
    assert.deepEqual(await effectNames(), ['h1', 'h2'])
    const states = await db.from('messaging_deliveries').select('state')
    assert.deepEqual(states, [{ state: 'done' }, { state: 'done' }])
  })

  test('the local relay is one statement: claim, marks, deliveries and hand-over, no transaction around them', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    recordingSubscriber('test.record_b')
    const published = [await publishWidget('s1'), await publishWidget('s2')]
    const handoff: Handoff = { leaseSeconds: 60, limit: 100, deliveries: [] }
    // The publishers' wake-ups (a NOTIFY each, no worker runs here) are sent before counting.
    await relayWakesSent()
    const sent = await statementsSentDuring(async () => {
      assert.equal(await relayBatch(localTransport, 100, handoff), 2)
    })
    assert.lengthOf(sent, 1, sent.join('\n'))
    assert.notMatch(sent[0], /^\s*(BEGIN|COMMIT)/i)
    // Every event marked dispatched, one delivery per (event, subscriber), all handed over leased.
    const undispatched = await db.from('messaging_outbox').whereNull('dispatched_at')
    assert.lengthOf(undispatched, 0)
    const deliveries = await db
      .from('messaging_deliveries')
      .orderBy(['event_id', 'subscriber'])
      .select('id', 'event_id', 'subscriber', 'attempts')
    assert.deepEqual(
      deliveries.map((row) => [row.event_id, row.subscriber, row.attempts]),
      published.flatMap((id) => [
        [id, 'test.record_a', 1],
        [id, 'test.record_b', 1],
      ])
    )
    assert.sameMembers(
      handoff.deliveries.map((delivery) => delivery.deliveryId),
      deliveries.map((row) => row.id)
    )
    // Ids made in SQL are UUIDv7 as the app's are: version 7, and the clock of now in front.
    for (const { id } of deliveries) {
      assert.isTrue(isUuid(id), id)
      assert.equal(id[14], '7', id)
      const millis = Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16)
      assert.isBelow(Math.abs(millis - Date.now()), 60_000, id)
    }
    assert.deepEqual(
      await processDeliveries(FAST, { deliveries: handoff.deliveries, claim: false }),
      ['handled', 'handled', 'handled', 'handled']
    )
    assert.deepEqual(await effectNames(), ['s1', 's1', 's2', 's2'])
  })

  test('deliveries one relay writes due now are claimed in their events’ order, across claims', async ({
    assert,
  }) => {
    // Written by one statement they share their due time: the claim's tie-break, the id, must
    // follow the events (made in SQL, ids random after the millisecond broke the order).
    const handled: string[] = []
    recordingSubscriber('test.record_a', (name) => handled.push(name))
    const names = Array.from({ length: 12 }, (_, index) => `o${String(index).padStart(2, '0')}`)
    for (const name of names) await publishWidget(name)
    // No hand-over: every delivery is written due now, for claims — one a claim here.
    assert.equal(await relayBatch(), names.length)
    for (const name of names)
      assert.deepEqual(await processDeliveries({ ...FAST, batchSize: 1 }), ['handled'], name)
    assert.deepEqual(handled, names)
  })

  test('a relay leases no more than one claim takes; the rest are written due now, for a claim', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    recordingSubscriber('test.record_b')
    for (const name of ['l1', 'l2']) await publishWidget(name)
    // Two events for two subscribers: four deliveries, of which the pass may hold three.
    const handoff: Handoff = { leaseSeconds: 60, limit: 3, deliveries: [] }
    assert.equal(await relayBatch(localTransport, 100, handoff), 2)
    assert.lengthOf(handoff.deliveries, 3)
    const rows = await db
      .from('messaging_deliveries')
      .select('attempts')
      .count('* as count')
      .groupBy('attempts')
      .orderBy('attempts')
    assert.deepEqual(
      rows.map((row) => [row.attempts, Number(row.count)]),
      [
        [0, 1],
        [1, 3],
      ]
    )
    const outcomes = await processDeliveries(FAST, {
      deliveries: handoff.deliveries,
      claim: true,
    })
    assert.deepEqual(outcomes, ['handled', 'handled', 'handled', 'handled'])
    assert.lengthOf(await effects(), 4)
  })

  test('deliveries handed to a pass that crashed are claimed when their lease ends, and handled once', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    await publishWidget('orphan')
    // The pass that was handed it dies before handling it.
    const handoff: Handoff = { leaseSeconds: 60, limit: 100, deliveries: [] }
    assert.equal(await relayBatch(localTransport, 100, handoff), 1)
    assert.lengthOf(handoff.deliveries, 1)
    assert.deepEqual(await processDeliveries(FAST), [], 'leased: not claimable yet')
    // The lease runs out.
    await db
      .from('messaging_deliveries')
      .update({ available_at: db.raw(`now() - interval '1 second'`) })
    assert.deepEqual(await processDeliveries(FAST), ['handled'])
    assert.deepEqual(await effectNames(), ['orphan'])
    const [delivery] = await db.from('messaging_deliveries').select('state', 'attempts')
    assert.deepEqual(delivery, { state: 'done', attempts: 2 })
  })

  test('a relay rolled back hands nothing over, and a delivery claimed again in the same pass is handled once', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    await publishWidget('refused')
    const refusing: Transport = {
      name: 'local',
      async dispatch(trx, batch, handed) {
        await localTransport.dispatch(trx, batch, handed)
        throw new Error('the broker refused the batch')
      },
    }
    const handoff: Handoff = { leaseSeconds: 0, limit: 100, deliveries: [] }
    await assert.rejects(() => relayBatch(refusing, 100, handoff), 'the broker refused the batch')
    assert.deepEqual(handoff.deliveries, [])
    assert.lengthOf(await db.from('messaging_deliveries'), 0)
    // With no lease at all, the pass's own claim takes the handed delivery back: still one run.
    assert.equal(await relayBatch(localTransport, 100, handoff), 1)
    assert.lengthOf(handoff.deliveries, 1)
    assert.deepEqual(
      await processDeliveries(FAST, { deliveries: handoff.deliveries, claim: true }),
      ['handled']
    )
    assert.deepEqual(await effectNames(), ['refused'])
  })

  test('a background task or an operation that hangs holds back neither events nor other tasks', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    // Both hang until the end of the test, as a dead mail server or a long AI run would.
    let release = () => {}
    const hung = new Promise<void>((resolve) => (release = resolve))
    let taskRunning = false
    let operationRunning = false
    let otherTaskRuns = 0
    const unregisterHanging = registerBackgroundTask({
      name: 'test.hanging_task',
      async run() {
        taskRunning = true
        await hung
        return 0
      },
    })
    // Registered after the hanging one: in a shared loop it would never get its turn.
    const unregisterOther = registerBackgroundTask({
      name: 'test.other_task',
      async run() {
        otherTaskRuns++
        return 0
      },
    })
    defineOperation('test.hanging_operation', async () => {
      operationRunning = true
      await hung
      return {}
    })
    const tenantId = newId()
    await db
      .table('identity_tenants')
      .insert({ id: tenantId, name: 'Hanging', slug: `hanging-${tenantId}` })
    const worker = new MessagingWorker({
      connectionString: env.get('DATABASE_URL')!,
      pollIntervalMs: 30_000,
      operations: postgresOperations,
      ...FAST,
    })
    await worker.start()
    try {
      await tenancy.run(tenantId, (trx) =>
        startOperation(trx, { tenantId, kind: 'test.hanging_operation', input: {} })
      )
      assert.isTrue(await until(async () => taskRunning && operationRunning))
      assert.isTrue(await until(async () => otherTaskRuns > 0), 'the other task waited')
      await publishWidget('through')
      assert.isTrue(
        await until(async () => {
          const seen = await effects()
          return seen.length === 1
        }, 10_000),
        'the event waited for the task or the operation'
      )
    } finally {
      release()
      await worker.stop()
      unregisterHanging()
      unregisterOther()
      await db.from('platform_operations').where('tenant_id', tenantId).delete()
      await db.from('identity_tenants').where('id', tenantId).delete()
    }
  })

  test('publishing an undeclared event type does not compile', async ({ assert }) => {
    const attempt = (trx: Parameters<typeof events.publish>[0]) =>
      // @ts-expect-error 'test.not_declared' is not an IntegrationEvents key
      events.publish(trx, 'test.not_declared', {}, { version: 1, tenantId: null })
    assert.isFunction(attempt)
  })

  test('dead letters are reported, listed, and replayed once the bug is fixed', async ({
    assert,
  }) => {
    let broken = true
    recordingSubscriber('test.poison', () => {
      if (broken) throw new Error('bug 42')
    })
    await publishWidget('victim')
    await drain()

    const status = await busStatus()
    assert.deepInclude(status.subscribers, {
      subscriber: 'test.poison',
      pending: 0,
      dead: 1,
      done: 0,
    })
    const [letter] = await deadLetters({ subscriber: 'test.poison' })
    assert.deepInclude(letter, { type: 'test.widget_created', attempts: 4, tenantId: tenant })
    assert.include(letter.lastError, 'bug 42')

    const cli = await runNode(['ace.js', 'bus:status', '--json'], childEnv({}))
    assert.equal(cli.code, 0, cli.stderr)
    const reported = JSON.parse(cli.stdout.slice(cli.stdout.indexOf('{')))
    assert.deepInclude(reported.subscribers, {
      subscriber: 'test.poison',
      pending: 0,
      dead: 1,
      done: 0,
    })

    broken = false
    assert.equal(await replayDeadLetters({ deliveryId: letter.deliveryId }), 1)
    await drain()
    assert.lengthOf(await effects(), 1)
    const after = await busStatus()
    assert.deepInclude(after.subscribers, {
      subscriber: 'test.poison',
      pending: 0,
      dead: 0,
      done: 1,
    })
  })
})

test.group('deliveries handled together', (group) => {
  group.each.setup(async () => {
    await resetTables()
    return () => {
      for (const name of [
        'test.record_a',
        'test.in_tenant',
        'test.poison',
        'test.batch',
        'test.sees_itself',
      ])
        unsubscribe(name)
    }
  })

  const splits = async () => {
    const { values } = await batchesSplit.get()
    return values[0]?.value ?? 0
  }

  test('one tenant’s deliveries of a subscriber share a transaction: 30 events, two commits', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    for (let index = 0; index < 30; index++) await publishWidget(`w${index}`)
    await relayBatch()
    let outcomes: string[] = []
    const sent = await statementsSentDuring(async () => {
      outcomes = await processDeliveries({ ...FAST, perTransaction: 25 })
    })
    assert.deepEqual(outcomes, Array(30).fill('handled'))
    assert.lengthOf(
      sent.filter((statement) => /^\s*COMMIT/i.test(statement)),
      2
    )
    assert.lengthOf(
      sent.filter((statement) => statement.includes('INSERT INTO messaging_inbox')),
      2
    )
    assert.lengthOf(await effects(), 30)
    assert.lengthOf(await db.from('messaging_inbox').where('subscriber', 'test.record_a'), 30)
    const pending = await db.from('messaging_deliveries').whereNot('state', 'done')
    assert.lengthOf(pending, 0)
  })

  test('a handled delivery is settled by its own unit of work: nothing is sent after its commit', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    for (const name of ['s1', 's2', 's3']) await publishWidget(name)
    await relayBatch()
    const sent = await statementsSentDuring(async () => {
      assert.deepEqual(await processDeliveries(FAST), ['handled', 'handled', 'handled'])
    })
    // The claim, then the unit of work (inbox with its BEGIN, handlers, COMMIT) — and nothing after.
    assert.match(sent.at(-1)!, /^\s*COMMIT/i)
    assert.lengthOf(
      sent.filter((statement) => /UPDATE\s+"?messaging_deliveries/i.test(statement)),
      1,
      'only the claim updates deliveries'
    )
    const deliveries = await db.from('messaging_deliveries').select('state', 'handled_at')
    assert.deepEqual(
      deliveries.map((row) => row.state),
      ['done', 'done', 'done']
    )
    for (const row of deliveries) assert.isNotNull(row.handled_at)
  })

  test('a delivery is done inside its unit of work, and pending again when that unit rolls back', async ({
    assert,
  }) => {
    const seen: string[] = []
    let attempt = 0
    // A platform event: its unit of work keeps the worker's role, which may read deliveries.
    subscribe('test.widget_created', 'test.sees_itself', async (event, trx) => {
      const [delivery] = await trx
        .from('messaging_deliveries')
        .where({ event_id: event.id, subscriber: 'test.sees_itself' })
        .select('state')
      seen.push(delivery.state)
      if (++attempt === 1) throw new Error('first attempt fails after the inbox insert')
    })
    await db.transaction((trx) =>
      events.publish(
        trx,
        'test.widget_created',
        { widgetId: newId(), name: 'platform' },
        { version: 1, tenantId: null }
      )
    )
    await relayBatch()
    assert.deepEqual(await processDeliveries({ ...FAST, leaseSeconds: 0 }), ['retry'])
    const [failed] = await db.from('messaging_deliveries').select('state', 'attempts', 'last_error')
    assert.equal(failed.state, 'pending')
    assert.equal(failed.attempts, 1)
    assert.include(failed.last_error, 'first attempt fails')
    assert.lengthOf(await db.from('messaging_inbox').where('subscriber', 'test.sees_itself'), 0)
    assert.isTrue(
      await until(async () => {
        await processDeliveries({ ...FAST, leaseSeconds: 0 })
        return attempt === 2
      })
    )
    const [handled] = await db.from('messaging_deliveries').select('state', 'last_error')
    assert.equal(handled.state, 'done')
    assert.isNull(handled.last_error)
    // Both times the handler already saw its delivery done: the inbox insert before it settled it.
    assert.deepEqual(seen, ['done', 'done'])
  })

  test('the relay and the delivery claim commit without waiting for a flush; handlers wait for theirs', async ({
    assert,
  }) => {
    const modes: Record<string, string> = {}
    const commitMode = async (trx: TransactionClientContract) => {
      const { rows } = await trx.rawQuery('SHOW synchronous_commit')
      return rows[0].synchronous_commit as string
    }
    subscribe('test.widget_created', 'test.record_a', async (_event, trx) => {
      modes.handler = await commitMode(trx)
    })
    await publishWidget('durable')
    const watching: Transport = {
      name: 'local',
      async dispatch(trx, batch) {
        modes.relay = await commitMode(trx)
        await localTransport.dispatch(trx, batch)
      },
    }
    assert.equal(await relayBatch(watching), 1)
    const sent = await statementsSentDuring(async () => {
      assert.deepEqual(await processDeliveries(FAST), ['handled'])
    })
    assert.deepEqual(modes, { relay: 'off', handler: 'on' })
    // The claim, on its own: the one statement of its transaction sets it (job_queue.spec.ts).
    const [claim] = sent.filter((statement) => /UPDATE\s+"?messaging_deliveries/i.test(statement))
    assert.include(claim, 'commit_without_flush')
  })

  test('tenant code may record inbox rows but still cannot touch deliveries', async ({
    assert,
  }) => {
    await publishWidget('guarded')
    await relayBatch()
    await assert.rejects(
      () =>
        tenancy.run(tenant, (trx) => trx.from('messaging_deliveries').update({ state: 'done' })),
      /permission denied/
    )
    await assert.rejects(
      () =>
        tenancy.run(tenant, (trx) => trx.rawQuery('SELECT messaging_settle_recorded_deliveries()')),
      /permission denied|trigger functions can only be called as triggers/
    )
  })

  test('each tenant’s deliveries run in that tenant’s unit of work', async ({ assert }) => {
    const other = newId()
    subscribe('test.widget_created', 'test.in_tenant', async (event, trx) => {
      // The tenant the unit of work is set to, not the one the event names: a batch in the
      // wrong tenant would record the wrong one (or be refused by RLS and split).
      await trx.rawQuery(
        `INSERT INTO ${EFFECTS} (id, tenant_id, event_id, subscriber, name)
         VALUES (?, current_setting('app.tenant_id')::uuid, ?, 'test.in_tenant', ?)`,
        [newId(), event.id, event.payload.name]
      )
    })
    for (let index = 0; index < 6; index++) {
      await publishWidget(`mine${index}`)
      await publishWidget(`theirs${index}`, { tenantId: other })
    }
    const splitsBefore = await splits()
    await drain()
    assert.equal(await splits(), splitsBefore)
    const rows = await db
      .from(`${EFFECTS} as e`)
      .join('messaging_outbox as o', 'o.id', 'e.event_id')
      .select('e.tenant_id as ran_in', 'o.tenant_id as event_tenant', 'e.name')
    assert.lengthOf(rows, 12)
    for (const row of rows) assert.equal(row.ran_in, row.event_tenant, row.name)
    assert.lengthOf(
      rows.filter((row) => row.ran_in === other),
      6
    )
  })

  test('a handler that fails rolls its batch back; the others then run alone, once each', async ({
    assert,
  }) => {
    const calls: string[] = []
    recordingSubscriber('test.poison', (name) => {
      calls.push(name)
      if (name === 'bad') throw new Error('cannot handle this one')
    })
    for (const name of ['a', 'bad', 'c']) await publishWidget(name)
    await relayBatch()
    const splitsBefore = await splits()
    const outcomes = await processDeliveries({ ...FAST, leaseSeconds: 0 })
    assert.sameMembers(outcomes, ['handled', 'retry', 'handled'])
    assert.equal(await splits(), splitsBefore + 1)
    // Together (a, bad: rolled back), then alone: a, bad, c.
    assert.deepEqual(calls, ['a', 'bad', 'a', 'bad', 'c'])
    assert.deepEqual(await effectNames(), ['a', 'c'])
    const deliveries = await db
      .from('messaging_deliveries as d')
      .join('messaging_outbox as o', 'o.id', 'd.event_id')
      .select('d.state', 'd.attempts', db.raw(`o.payload->>'name' AS name`))
      .orderByRaw(`o.payload->>'name'`)
    assert.deepEqual(
      deliveries.map((row) => `${row.name}:${row.state}:${row.attempts}`),
      ['a:done:1', 'bad:pending:1', 'c:done:1']
    )
  })

  test('a subscriber’s batches in one tenant run one at a time, unless it allows them side by side', async ({
    assert,
  }) => {
    let inFlight = 0
    let most = 0
    subscribe('test.widget_created', 'test.record_a', async (event, trx) => {
      most = Math.max(most, ++inFlight)
      try {
        await trx.table(EFFECTS).insert({
          id: newId(),
          tenant_id: event.tenantId,
          event_id: event.id,
          subscriber: 'test.record_a',
          name: event.payload.name,
        })
      } finally {
        inFlight--
      }
    })
    for (let index = 0; index < 4; index++) await publishWidget(`serial${index}`)
    await relayBatch()
    await processDeliveries({ ...FAST, perTransaction: 1, concurrency: 4 })
    assert.lengthOf(await effects(), 4)
    assert.equal(most, 1)
    unsubscribe('test.record_a')

    // Side by side: each batch waits until another has started, which one at a time never would.
    let started = 0
    let bothStarted = () => {}
    const overlap = new Promise<void>((resolve) => (bothStarted = resolve))
    subscribe(
      'test.widget_created',
      'test.in_tenant',
      async () => {
        if (++started === 2) bothStarted()
        let timer: NodeJS.Timeout | undefined
        const guard = new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('ran one at a time')), 5000)
        })
        await Promise.race([overlap, guard]).finally(() => clearTimeout(timer))
      },
      { concurrentBatches: true }
    )
    await resetTables()
    for (let index = 0; index < 2; index++) await publishWidget(`side${index}`)
    await relayBatch()
    const outcomes = await processDeliveries({ ...FAST, perTransaction: 1, concurrency: 2 })
    assert.deepEqual(outcomes, ['handled', 'handled'])
  })

  test('one tenant’s backlog does not hold another tenant’s fresh event back, relayed or handled', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    const noisy = newId()
    const quiet = newId()
    await publishMany(noisy, 300)
    await publishWidget('quiet', { tenantId: quiet })
    // Oldest first, the quiet tenant's event would be the 301st: three relay batches and six
    // delivery claims away. In turns, each tenant has ceil(limit / 2) of each.
    assert.equal(await relayBatch(), 51)
    const relayed = await db
      .from('messaging_outbox')
      .where('tenant_id', quiet)
      .whereNotNull('dispatched_at')
    assert.lengthOf(relayed, 1)
    const outcomes = await processDeliveries({ ...FAST, batchSize: 50 })
    assert.lengthOf(await effects({ tenant_id: quiet }), 1)
    assert.lengthOf(await effects({ tenant_id: noisy }), 25)
    assert.lengthOf(outcomes, 26)
  })

  test('when more tenants are due than a claim holds, the next claim goes on where it ended', async ({
    assert,
  }) => {
    recordingSubscriber('test.record_a')
    const tenants = [newId(), newId(), newId(), newId()]
    for (const tenantId of tenants) await publishMany(tenantId, 10)
    while ((await relayBatch()) > 0);
    // Two deliveries a claim: two tenants a turn each, then the other two.
    await processDeliveries({ ...FAST, batchSize: 2 })
    await processDeliveries({ ...FAST, batchSize: 2 })
    for (const tenantId of tenants) {
      assert.lengthOf(await effects({ tenant_id: tenantId }), 1, `tenant ${tenantId}`)
    }
  })

  /** A batch subscriber recording each call's event names; `bad` makes a call throw. */
  function batchSubscriber(calls: string[][]) {
    subscribeBatch(
      'test.widget_created',
      'test.batch',
      async (batch, trx) => {
        calls.push(batch.map((event) => event.payload.name))
        if (batch.some((event) => event.payload.name === 'bad'))
          throw new Error('cannot handle this one')
        await trx.table(EFFECTS).multiInsert(
          batch.map((event) => ({
            id: newId(),
            tenant_id: event.tenantId,
            event_id: event.id,
            subscriber: 'test.batch',
            name: event.payload.name,
          }))
        )
      },
      { maxAttempts: 4 }
    )
  }

  test('a batch subscriber is called once per batch with its fresh events, oldest first', async ({
    assert,
  }) => {
    const calls: string[][] = []
    batchSubscriber(calls)
    const ids: string[] = []
    for (const name of ['n1', 'n2', 'n3', 'n4', 'n5']) ids.push(await publishWidget(name))
    await relayBatch()
    // n2 and n4 were handled before (their inbox rows are there): left out of the call. Their
    // inbox rows settled them; pending again, as when a lease lapsed while that handling committed.
    await db
      .table('messaging_inbox')
      .multiInsert([ids[1], ids[3]].map((id) => ({ event_id: id, subscriber: 'test.batch' })))
    await db
      .from('messaging_deliveries')
      .whereIn('event_id', [ids[1], ids[3]])
      .update({ state: 'pending' })
    const outcomes = await processDeliveries({ ...FAST, leaseSeconds: 0 })
    assert.deepEqual(outcomes, ['handled', 'duplicate', 'handled', 'duplicate', 'handled'])
    assert.deepEqual(calls, [['n1', 'n3', 'n5']])
    assert.deepEqual(await effectNames(), ['n1', 'n3', 'n5'])
  })

  test('a batch subscriber’s failing batch is rolled back and run one event a call', async ({
    assert,
  }) => {
    const calls: string[][] = []
    batchSubscriber(calls)
    for (const name of ['a', 'bad', 'c']) await publishWidget(name)
    await relayBatch()
    const splitsBefore = await splits()
    const outcomes = await processDeliveries({ ...FAST, leaseSeconds: 0 })
    assert.deepEqual(outcomes, ['handled', 'retry', 'handled'])
    assert.equal(await splits(), splitsBefore + 1)
    assert.deepEqual(calls, [['a', 'bad', 'c'], ['a'], ['bad'], ['c']])
    assert.deepEqual(await effectNames(), ['a', 'c'])
    const [bad] = await db
      .from('messaging_deliveries as d')
      .join('messaging_outbox as o', 'o.id', 'd.event_id')
      .whereRaw(`o.payload->>'name' = 'bad'`)
      .select('d.state', 'd.attempts')
    assert.deepEqual({ ...bad }, { state: 'pending', attempts: 1 })
  })

  test('deliveries of another tenant are refused before a unit of work starts', async ({
    assert,
  }) => {
    const calls: string[][] = []
    batchSubscriber(calls)
    const envelope = (tenantId: string) => ({
      id: newId(),
      type: 'test.widget_created' as const,
      version: 1,
      tenantId,
      aggregateId: null,
      occurredAt: new Date().toISOString(),
      payload: { widgetId: newId(), name: tenantId.slice(-4) },
    })
    const batch = subscription('test.batch')!
    await assert.rejects(
      () =>
        runSubscribersTogether(
          tenant,
          [envelope(tenant), envelope(newId())].map((event) => ({ event, subscription: batch })),
          'local'
        ),
      /tenant/
    )
    assert.deepEqual(calls, [])
    assert.lengthOf(await db.from('messaging_inbox'), 0)
  })

  test('redelivered events in a batch are acknowledged without running again', async ({
    assert,
  }) => {
    let calls = 0
    recordingSubscriber('test.record_a', () => calls++)
    for (const name of ['x', 'y', 'z']) await publishWidget(name)
    await drain()
    await db
      .from('messaging_deliveries')
      .update({ state: 'pending', available_at: db.raw('now()') })
    const outcomes = await processDeliveries(FAST)
    assert.deepEqual(outcomes, ['duplicate', 'duplicate', 'duplicate'])
    assert.equal(calls, 3)
    assert.lengthOf(await effects(), 3)
  })
})
