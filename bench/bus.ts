/*
| Event bus throughput and latency, with a baseline, in one run.
|
|   npm run bench:bus            (BENCH_EVENTS=2000 by default; BENCH_ROUNDS=3: the baseline
|                                 and the local path alternate, each reports its median run)
|
| baseline: the subscriber's insert done directly, one transaction per event.
| local:    each event published in its own transaction (committed), relayed,
|           delivered and handled by a subscriber doing the same insert, with
|           the worker running in this process.
| Latency is publish (occurred_at) → effect committed, from database clocks.
| local, one delivery per transaction: the same with perTransaction 1, each
|           delivery its own unit of work — batching's gain, side by side.
| bullmq / rabbitmq: the same, through the broker (REDIS_URL / AMQP_URL set;
|           each row says when it was skipped).
| baseline / local, 8 publishers: both sides again with BENCH_BUS_PUBLISHERS
|           (8) publishing at once, as a server's requests do — throughput,
|           where the sequential rows measure how much the worker's round
|           trips slow one publisher.
| local at a steady rate: the local path again, events published on a timer
|           at BENCH_BUS_RATE (100/s) for 10 s — the latency of one event
|           when nothing is queued ahead of it.
*/
import { bootInProcess } from './lib/in_process_app.js'
import { medianRun, printTable, ratiosByRound, writeResults } from './lib/report.js'
import { countStatements, UNCOUNTED } from './lib/statements.js'

declare module '#app/messaging/types' {
  interface IntegrationEvents {
    'bench.ping': { version: 1; payload: { index: number } }
  }
}

const EVENTS = Number(process.env.BENCH_EVENTS ?? 2000)
/** Alternating rounds of the baseline and the local path (their ratio is the goal's). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
/**
 * The steady row: events published on a timer at this rate, below what the
 * bus sustains, so its latency is one event's path — not a backlog draining.
 */
const STEADY_RATE = Number(process.env.BENCH_BUS_RATE ?? 100)
/**
 * The concurrent rows: as many publishers at once, on both sides — as a
 * server's requests publish. The sequential rows measure how much the
 * worker's round trips slow one publisher's; these, throughput.
 */
const PUBLISHERS = Number(process.env.BENCH_BUS_PUBLISHERS ?? 8)
const atrium = await bootInProcess()

try {
  const { default: db } = await import('@adonisjs/lucid/services/db')
  const { default: env } = await import('#start/env')
  const { events } = await import('#app/messaging/outbox')
  const { subscribe } = await import('#app/messaging/subscribers')
  const { MessagingWorker } = await import('#app/messaging/worker')
  const { localTransport } = await import('#app/messaging/relay')
  const { postgresOperations } = await import('#app/operations/operations')
  const { BullMqTransport, moduleQueueName } = await import('#app/messaging/transports/bullmq')
  const { RabbitMqTransport } = await import('#app/messaging/transports/rabbitmq')
  const { Queue } = await import('bullmq')
  type Transport = import('#app/messaging/relay').Transport
  const { newId } = await import('#app/platform/ids')

  await db.rawQuery(`CREATE TABLE IF NOT EXISTS bench_effects (
    id uuid PRIMARY KEY, event_id uuid, started_at timestamptz NOT NULL, done_at timestamptz NOT NULL DEFAULT clock_timestamp())`)
  await db.rawQuery('TRUNCATE bench_effects')
  await db.rawQuery('TRUNCATE messaging_inbox, messaging_deliveries, messaging_outbox CASCADE')

  const latency = async () => {
    const { rows } = await db.rawQuery(`SELECT
        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM done_at - started_at)) * 1000 AS p50,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM done_at - started_at)) * 1000 AS p95
      FROM bench_effects`)
    return { p50: Math.round(rows[0].p50 * 100) / 100, p95: Math.round(rows[0].p95 * 100) / 100 }
  }

  const statementsDuring = countStatements()
  /**
   * WAL flushes (fdatasync) PostgreSQL made while `work` ran, per unit: each synchronous commit
   * waits for one (several waiting at once may share it), ~0.4 ms each on the 2-core machine.
   * Cluster-wide (pg_stat_wal), so the bench's own polling and the WAL writer count too.
   */
  const walFlushes = async () => {
    const { rows } = await db.rawQuery(
      `${UNCOUNTED} SELECT wal_sync::float8 AS flushes FROM pg_stat_wal`
    )
    return Number(rows[0].flushes)
  }
  const flushesPer = async <T>(units: number, work: () => Promise<T>) => {
    const before = await walFlushes()
    const result = await work()
    return {
      result,
      flushesPerUnit: Math.round((((await walFlushes()) - before) / units) * 100) / 100,
    }
  }

  /** Runs `publish(index)` for every index in 0…count-1 from `publishers` concurrent loops. */
  const inParallel = async (
    count: number,
    publishers: number,
    publish: (index: number) => Promise<unknown>
  ) => {
    let next = 0
    await Promise.all(
      Array.from({ length: publishers }, async () => {
        for (let index = next++; index < count; index = next++) await publish(index)
      })
    )
  }

  // Baseline: the same insert, directly.
  const measureBaseline = async (publishers = 1) => {
    await db.rawQuery('TRUNCATE bench_effects')
    const started = performance.now()
    const {
      result: { perUnit: statementsPerEvent },
      flushesPerUnit: walFlushesPerEvent,
    } = await flushesPer(EVENTS, () =>
      statementsDuring(EVENTS, () =>
        inParallel(EVENTS, publishers, () =>
          db.transaction(async (trx) => {
            await trx.rawQuery(
              'INSERT INTO bench_effects (id, started_at) VALUES (?, clock_timestamp())',
              [newId()]
            )
          })
        )
      )
    )
    const seconds = (performance.now() - started) / 1000
    return {
      name:
        publishers === 1
          ? 'baseline: direct insert'
          : `baseline: direct insert, ${publishers} publishers`,
      eventsPerSecond: Math.round(EVENTS / seconds),
      ...(await latency()),
      statementsPerEvent,
      walFlushesPerEvent,
    }
  }

  // One insert, no row locked: its batches may run side by side.
  subscribe(
    'bench.ping',
    'bench.record',
    async (event, trx) => {
      await trx.rawQuery('INSERT INTO bench_effects (id, event_id, started_at) VALUES (?, ?, ?)', [
        newId(),
        event.id,
        event.occurredAt,
      ])
    },
    { concurrentBatches: true }
  )

  /**
   * Publishes `count` events (one committed transaction each) as fast as it
   * can, or on a timer at `rate` per second, and waits for every effect.
   */
  const measure = async (
    name: string,
    transport: Transport,
    count = EVENTS,
    rate?: number,
    perTransaction?: number,
    publishers = 1
  ) => {
    await db.rawQuery('TRUNCATE bench_effects')
    await db.rawQuery('TRUNCATE messaging_inbox, messaging_deliveries, messaging_outbox CASCADE')
    const worker = new MessagingWorker({
      connectionString: env.get('DATABASE_URL')!,
      ...(perTransaction ? { perTransaction } : {}),
      transport,
      operations: postgresOperations,
    })
    await worker.start()
    const begun = performance.now()
    const {
      result: { perUnit: statementsPerEvent },
      flushesPerUnit: walFlushesPerEvent,
    } = await flushesPer(count, () =>
      statementsDuring(count, async () => {
        await inParallel(count, publishers, async (index) => {
          if (rate) {
            const due = begun + (index * 1000) / rate
            const wait = due - performance.now()
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
          }
          await db.transaction((trx) =>
            events.publish(trx, 'bench.ping', { index }, { version: 1, tenantId: null })
          )
        })
        for (;;) {
          const { rows: done } = await db.rawQuery(
            `${UNCOUNTED} SELECT count(*)::int AS count FROM bench_effects`
          )
          if (done[0].count >= count) break
          await new Promise((resolve) => setTimeout(resolve, 10))
        }
      })
    )
    const seconds = (performance.now() - begun) / 1000
    await worker.stop()
    return {
      name,
      eventsPerSecond: Math.round(count / seconds),
      ...(await latency()),
      statementsPerEvent,
      walFlushesPerEvent,
    }
  }

  // The ratio the goal is about: its two sides in alternating rounds, each side's median run.
  const baselineRuns = []
  const localRuns = []
  // Round 0 warms up (JIT, caches, the machine's clock) and is not counted.
  for (let round = 0; round <= ROUNDS; round++) {
    if (round === 1) {
      baselineRuns.length = 0
      localRuns.length = 0
    }
    baselineRuns.push(await measureBaseline())
    localRuns.push(await measure('local (outbox → deliveries → handler)', localTransport))
  }
  const baseline = medianRun(baselineRuns, (run) => run.eventsPerSecond)
  const rows: Array<
    Awaited<ReturnType<typeof measure>> & { rounds?: number[]; vsBaseline?: number }
  > = [baseline]
  rows.push(
    await measure('local, one delivery per transaction', localTransport, EVENTS, undefined, 1)
  )
  const rate = (run: { eventsPerSecond: number }) => run.eventsPerSecond
  rows.push({ ...medianRun(localRuns, rate), ...ratiosByRound(localRuns, baselineRuns, rate) })
  const concurrentBaselines = []
  const concurrentLocals = []
  for (let round = 0; round < ROUNDS; round++) {
    concurrentBaselines.push(await measureBaseline(PUBLISHERS))
    concurrentLocals.push(
      await measure(
        `local, ${PUBLISHERS} publishers`,
        localTransport,
        EVENTS,
        undefined,
        undefined,
        PUBLISHERS
      )
    )
  }
  const concurrentBaseline = medianRun(concurrentBaselines, rate)
  rows.push(
    { ...concurrentBaseline, vsBaseline: 1 },
    {
      ...medianRun(concurrentLocals, rate),
      ...ratiosByRound(concurrentLocals, concurrentBaselines, rate),
    }
  )
  if (env.get('REDIS_URL')) {
    const prefix = 'atrium-bench'
    const stale = new Queue(moduleQueueName('bench'), {
      prefix,
      connection: { url: env.get('REDIS_URL')! },
    })
    await stale.obliterate({ force: true })
    await stale.close()
    rows.push(
      await measure(
        'bullmq (outbox → queue → handler)',
        new BullMqTransport({ redisUrl: env.get('REDIS_URL')!, prefix, retryBaseMs: 1000 })
      )
    )
  } else console.log('bullmq: skipped (REDIS_URL is not set)')
  if (env.get('AMQP_URL')) {
    rows.push(
      await measure(
        'rabbitmq (outbox → exchange → handler)',
        new RabbitMqTransport({ url: env.get('AMQP_URL')!, retryBaseMs: 1000 })
      )
    )
  } else console.log('rabbitmq: skipped (AMQP_URL is not set)')
  rows.push(
    await measure(
      `local at a steady ${STEADY_RATE} events/s`,
      localTransport,
      STEADY_RATE * 10,
      STEADY_RATE
    )
  )

  console.log(
    `${EVENTS} events, one publish transaction each, Node ${process.version}, ${atrium.label}`
  )
  console.log(
    `events/s by round — baseline: ${baseline.rounds.join(', ')}; local: ${localRuns.map((run) => run.eventsPerSecond).join(', ')}`
  )
  printTable(
    [
      'path',
      'events/s',
      'p50 ms',
      'p95 ms',
      'vs baseline',
      'statements/event',
      'WAL flushes/event',
    ],
    rows.map((row) => [
      row.name,
      row.eventsPerSecond,
      row.p50,
      row.p95,
      `x${row.vsBaseline ?? Math.round((row.eventsPerSecond / baseline.eventsPerSecond) * 100) / 100}`,
      row.statementsPerEvent,
      row.walFlushesPerEvent,
    ])
  )
  const file = await writeResults('bus', {
    date: new Date().toISOString(),
    node: process.version,
    events: EVENTS,
    results: rows,
    ratios: Object.fromEntries(
      rows
        .slice(1)
        .filter(
          (row) =>
            !row.name.includes('steady') &&
            !row.name.includes('one delivery') &&
            !row.name.includes('publishers')
        )
        .map((row) => [
          row.name.split(' ')[0],
          row.vsBaseline ??
            Math.round((row.eventsPerSecond / baseline.eventsPerSecond) * 100) / 100,
        ])
    ),
  })
  console.log(`wrote ${file}`)
} finally {
  await atrium.stop()
}
