/*
| Order saga throughput and latency, with a baseline, in one run.
|
|   npm run bench:orders          (BENCH_ORDERS=1000 by default;
|                                  BENCH_DELIVERY_CONCURRENCY=n: handler lanes, default 4;
|                                  BENCH_BULLMQ_CONCURRENCY=n: jobs held per queue, default 64;
|                                  BENCH_ROUNDS=3: the baseline, local, burst and bullmq rows
|                                  alternate, each reporting its median run)
|
| baseline: place and reserve in one transaction, no events (what a single
|           service without a saga would do).
| local / bullmq: orders placed through the orders service (order row +
|           outbox, committed), then the saga over the bus — reserve,
|           confirm — with the worker in this process. Latency is placement
|           (created_at) to confirmed (the history row), from database clocks.
| local, one delivery per transaction: the local row with perTransaction 1,
|           each delivery its own unit of work — batching's gain, side by side.
| local, 100 orders (latency): the local path with a burst of 100 orders,
|           for placed → confirmed p95 when no long backlog builds up.
| Orders are placed by 16 concurrent placers; stock is ample, so all confirm.
*/
import { bootInProcess } from './lib/in_process_app.js'
import { medianRun, printTable, ratiosByRound, writeResults } from './lib/report.js'
import { countStatements, UNCOUNTED } from './lib/statements.js'

const ORDERS = Number(process.env.BENCH_ORDERS ?? 1000)
const PLACERS = 16
const LATENCY_ORDERS = 100
/** Alternating rounds of the baseline and the saga's rows (their ratios are the goals'). */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const atrium = await bootInProcess()

try {
  const { default: db } = await import('@adonisjs/lucid/services/db')
  const { default: env } = await import('#start/env')
  const { tenancy } = await import('#app/tenancy/tenancy')
  const { newId } = await import('#app/platform/ids')
  const { MessagingWorker } = await import('#app/messaging/worker')
  const { localTransport } = await import('#app/messaging/relay')
  const { postgresOperations } = await import('#app/operations/operations')
  const { BullMqTransport, moduleQueueName } = await import('#app/messaging/transports/bullmq')
  const { Queue } = await import('bullmq')
  // The modules' subscribers (the saga) and the orders service, as a worker process loads them.
  await import('#modules/inventory/subscribers')
  await import('#modules/orders/subscribers')
  const { orders } = await import('#modules/orders/services/orders')
  type Transport = import('#app/messaging/relay').Transport

  const tenantId = newId()
  const ownerId = newId()
  await db
    .table('identity_tenants')
    .insert({ id: tenantId, name: 'Bench', slug: `bench-${tenantId}` })
  const reset = async () => {
    await db.rawQuery(
      `TRUNCATE orders_status_history, orders_orders, inventory_reservations, inventory_ledger,
                inventory_items, messaging_inbox, messaging_deliveries, messaging_outbox,
                notifications_notifications, notifications_emails CASCADE`
    )
    await tenancy.run(tenantId, (trx) =>
      trx.table('inventory_items').insert({
        id: newId(),
        tenant_id: tenantId,
        sku: 'BENCH',
        name: 'Bench item',
        price_minor: 100,
        currency: 'EUR',
        on_hand: ORDERS * 10,
      })
    )
  }
  const lines = [{ sku: 'BENCH', quantity: 1 }]

  const statementsDuring = countStatements()

  /** Runs `place` `count` times with PLACERS at once; returns seconds. */
  const placeAll = async (place: () => Promise<unknown>, count = ORDERS) => {
    let next = 0
    const started = performance.now()
    await Promise.all(
      Array.from({ length: PLACERS }, async () => {
        while (next++ < count) await place()
      })
    )
    return (performance.now() - started) / 1000
  }

  const latency = async () => {
    const { rows } = await db.rawQuery(`SELECT
        percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) AS p95
      FROM (SELECT extract(epoch FROM h.created_at - o.created_at) * 1000 AS ms
              FROM orders_orders o JOIN orders_status_history h
                ON h.order_id = o.id AND h.to_status = 'confirmed') t`)
    return {
      p50: Math.round(Number(rows[0].p50 ?? 0) * 10) / 10,
      p95: Math.round(Number(rows[0].p95 ?? 0) * 10) / 10,
    }
  }

  // Baseline: one transaction places the order and reserves its stock, no events.
  const measureBaseline = async () => {
    await reset()
    const { result: seconds, perUnit: statementsPerOrder } = await statementsDuring(ORDERS, () =>
      placeAll(() =>
        tenancy.run(tenantId, async (trx) => {
          const id = newId()
          await trx
            .from('inventory_items')
            .where('sku', 'BENCH')
            .whereRaw('on_hand - reserved >= 1')
            .increment('reserved', 1)
          await trx.table('orders_orders').insert({
            id,
            tenant_id: tenantId,
            status: 'confirmed',
            customer_email: 'bench@example.com',
            lines: JSON.stringify(lines),
          })
        })
      )
    )
    return {
      name: 'baseline: place + reserve, one transaction',
      ordersPerSecond: Math.round(ORDERS / seconds),
      p50: 0,
      p95: 0,
      statementsPerOrder,
    }
  }

  const measure = async (
    name: string,
    transport: Transport,
    options: { perTransaction?: number; count?: number } = {}
  ) => {
    const { perTransaction, count = ORDERS } = options
    await reset()
    const worker = new MessagingWorker({
      connectionString: env.get('DATABASE_URL')!,
      ...(perTransaction ? { perTransaction } : {}),
      ...(process.env.BENCH_DELIVERY_CONCURRENCY
        ? { concurrency: Number(process.env.BENCH_DELIVERY_CONCURRENCY) }
        : {}),
      transport,
      operations: postgresOperations,
    })
    await worker.start()
    const started = performance.now()
    const { perUnit: statementsPerOrder } = await statementsDuring(count, async () => {
      await placeAll(
        () =>
          orders.place(
            { tenantId, userId: ownerId, role: 'owner' },
            { lines, customerEmail: 'bench@example.com' }
          ),
        count
      )
      for (;;) {
        const { rows: pending } = await db.rawQuery(
          `${UNCOUNTED} SELECT count(*)::int AS open FROM orders_orders WHERE status = 'pending'`
        )
        if (pending[0].open === 0) break
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })
    const seconds = (performance.now() - started) / 1000
    await worker.stop()
    return {
      name,
      ordersPerSecond: Math.round(count / seconds),
      ...(await latency()),
      statementsPerOrder,
    }
  }

  const bullmq = () =>
    new BullMqTransport({
      redisUrl: env.get('REDIS_URL')!,
      prefix: 'atrium-bench',
      retryBaseMs: 1000,
      ...(process.env.BENCH_BULLMQ_CONCURRENCY
        ? { concurrency: Number(process.env.BENCH_BULLMQ_CONCURRENCY) }
        : {}),
    })
  if (env.get('REDIS_URL')) {
    for (const module of ['orders', 'inventory']) {
      const stale = new Queue(moduleQueueName(module), {
        prefix: 'atrium-bench',
        connection: { url: env.get('REDIS_URL')! },
      })
      await stale.obliterate({ force: true })
      await stale.close()
    }
  } else console.log('bullmq: skipped (REDIS_URL is not set)')

  // The rows the goals are about, in alternating rounds; each reports its median run.
  type Run = Awaited<ReturnType<typeof measure>>
  const runs: Record<'baseline' | 'local' | 'burst' | 'bullmq', Run[]> = {
    baseline: [],
    local: [],
    burst: [],
    bullmq: [],
  }
  // Round 0 warms up (JIT, caches, the machine's clock) and is not counted: measured cold, the
  // baseline, which runs first, read up to a third slower than in later rounds.
  for (let round = 0; round <= ROUNDS; round++) {
    if (round === 1) for (const list of Object.values(runs)) list.length = 0
    runs.baseline.push(await measureBaseline())
    runs.local.push(await measure('local (placed → reserved → confirmed)', localTransport))
    // The latency goal is for a burst the saga can take without a long backlog.
    runs.burst.push(
      await measure(`local, ${LATENCY_ORDERS} orders (latency)`, localTransport, {
        count: LATENCY_ORDERS,
      })
    )
    if (env.get('REDIS_URL'))
      runs.bullmq.push(await measure('bullmq (placed → reserved → confirmed)', bullmq()))
  }
  const rate = (run: Run) => run.ordersPerSecond
  const baseline = medianRun(runs.baseline, rate)
  type Row = Run & { rounds?: number[]; vsBaseline?: number; roundRatios?: number[] }
  const rows: Row[] = [
    baseline,
    await measure('local, one delivery per transaction', localTransport, { perTransaction: 1 }),
    { ...medianRun(runs.local, rate), ...ratiosByRound(runs.local, runs.baseline, rate) },
    medianRun(runs.burst, (run) => run.p95),
  ]
  if (runs.bullmq.length)
    rows.push({
      ...medianRun(runs.bullmq, rate),
      ...ratiosByRound(runs.bullmq, runs.baseline, rate),
    })

  console.log(`${ORDERS} orders, ${PLACERS} placers, Node ${process.version}, ${atrium.label}`)
  const byRound = (list: Run[], figure: (run: Run) => number) => list.map(figure).join(', ')
  console.log(
    `by round — orders/s baseline: ${byRound(runs.baseline, rate)}; local: ${byRound(runs.local, rate)}` +
      `${runs.bullmq.length ? `; bullmq: ${byRound(runs.bullmq, rate)}` : ''}; burst p95 ms: ${byRound(runs.burst, (run) => run.p95)}`
  )
  printTable(
    ['path', 'orders/s', 'p50 ms', 'p95 ms', 'vs baseline', 'statements/order'],
    rows.map((row) => [
      row.name,
      row.ordersPerSecond,
      row.p50,
      row.p95,
      `x${row.vsBaseline ?? Math.round((row.ordersPerSecond / baseline.ordersPerSecond) * 100) / 100}`,
      row.statementsPerOrder,
    ])
  )
  const file = await writeResults('orders', {
    date: new Date().toISOString(),
    node: process.version,
    orders: ORDERS,
    placers: PLACERS,
    results: rows,
  })
  console.log(`wrote ${file}`)
} finally {
  await atrium.stop()
}
