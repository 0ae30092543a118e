/*
| What a plain tenant_id index costs beside one that starts with tenant_id,
| side by side in one run: two copies of gateway_usage (the busiest insert —
| a row per /v1 request), one with the index every tenant table used to get
| from createTenantTable, one without it; the same 500-row batches as the
| usage buffer writes (one jsonb_to_recordset INSERT, rows for 8 tenants),
| inserted into each in turn. Reports the database's time per 1,000 rows,
| the WAL each writes, and the index's size.
|
|   DATABASE_URL=… npm run bench:tenant-index   (BENCH_BATCHES=200 per round, 5 alternating rounds)
*/
import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { printTable, writeResults } from './lib/report.js'

const BATCHES = Number(process.env.BENCH_BATCHES ?? 200)
const ROWS = 500
const ROUNDS = 5
const url = process.env.DATABASE_URL
if (!url) {
  // `npm run bench -- --run` goes on with the other benches.
  console.log('bench:tenant-index skipped: it needs DATABASE_URL (a database Atrium has migrated)')
  process.exit(0)
}

const client = new pg.Client({ connectionString: url })
await client.connect()

const tenants = Array.from({ length: 8 }, () => randomUUID())
function batch() {
  const now = new Date().toISOString()
  return JSON.stringify(
    Array.from({ length: ROWS }, (_, index) => ({
      id: randomUUID(),
      tenant_id: tenants[index % tenants.length],
      key_id: randomUUID(),
      model_alias: 'fast',
      kind: 'chat',
      prompt_tokens: 12,
      completion_tokens: 16,
      cost_micro: 280,
      currency: 'USD',
      latency_ms: 3,
      status: 200,
      request_id: randomUUID(),
      created_at: now,
    }))
  )
}

const variants = {
  'plain tenant_id index too (before)': 'bench_usage_with_plain',
  '(tenant_id, created_at) only (now)': 'bench_usage_led',
}
type Variant = keyof typeof variants

async function setUp() {
  for (const table of Object.values(variants)) {
    await client.query(`DROP TABLE IF EXISTS ${table}`)
    // The migrated table's columns, defaults and keys; its indexes below.
    await client.query(
      `CREATE TABLE ${table} (LIKE gateway_usage INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`
    )
    await client.query(`ALTER TABLE ${table} ADD PRIMARY KEY (id)`)
    await client.query(`CREATE INDEX ON ${table} (tenant_id, created_at)`)
  }
  await client.query(`CREATE INDEX bench_usage_plain_tenant ON bench_usage_with_plain (tenant_id)`)
}

async function insertInto(table: string, body: string) {
  await client.query(
    `INSERT INTO ${table} (id, tenant_id, key_id, model_alias, kind, prompt_tokens,
       completion_tokens, cost_micro, currency, latency_ms, status, request_id, created_at, updated_at)
     SELECT id, tenant_id, key_id, model_alias, kind, prompt_tokens, completion_tokens, cost_micro,
            currency, latency_ms, status, request_id, created_at, created_at
       FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, tenant_id uuid, key_id uuid,
         model_alias text, kind text, prompt_tokens int, completion_tokens int, cost_micro bigint,
         currency text, latency_ms int, status int, request_id text, created_at timestamptz)`,
    [body]
  )
}

async function walPosition() {
  const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn() AS lsn')
  return rows[0].lsn
}
async function walBytesSince(lsn: string) {
  const { rows } = await client.query<{ bytes: string }>(
    'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes',
    [lsn]
  )
  return Number(rows[0].bytes)
}

async function measure(table: string, bodies: string[]) {
  const wal = await walPosition()
  const started = performance.now()
  for (const body of bodies) await insertInto(table, body)
  const elapsed = performance.now() - started
  const rows = bodies.length * ROWS
  return {
    msPer1000Rows: (elapsed * 1000) / rows,
    walBytesPerRow: (await walBytesSince(wal)) / rows,
  }
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

try {
  await setUp()
  const runs = Object.fromEntries(
    Object.keys(variants).map((name) => [name, [] as Array<Awaited<ReturnType<typeof measure>>>])
  ) as Record<Variant, Array<Awaited<ReturnType<typeof measure>>>>
  for (let round = 0; round < ROUNDS; round++) {
    // The same bodies for both tables in a round; which goes first alternates.
    const bodies = Array.from({ length: BATCHES }, batch)
    const order = (Object.keys(variants) as Variant[]).slice()
    if (round % 2 === 1) order.reverse()
    for (const name of order) runs[name].push(await measure(variants[name], bodies))
  }
  const sizes: Record<string, number> = {}
  for (const [name, table] of Object.entries(variants)) {
    const { rows } = await client.query<{ bytes: string }>(
      'SELECT pg_indexes_size($1::regclass) AS bytes',
      [table]
    )
    sizes[name] = Number(rows[0].bytes)
  }
  const results = (Object.keys(variants) as Variant[]).map((name) => ({
    name,
    msPer1000Rows: median(runs[name].map((run) => run.msPer1000Rows)),
    rounds: runs[name].map((run) => Math.round(run.msPer1000Rows * 100) / 100),
    walBytesPerRow: Math.round(median(runs[name].map((run) => run.walBytesPerRow))),
    indexesMiB: Math.round((sizes[name] / 1024 / 1024) * 10) / 10,
  }))
  console.log(
    `${ROUNDS} alternating rounds of ${BATCHES} batches × ${ROWS} rows each into two copies of gateway_usage`
  )
  printTable(
    ['table', 'ms per 1,000 rows (median)', 'rounds', 'WAL bytes per row', 'indexes MiB'],
    results.map((row) => [
      row.name,
      row.msPer1000Rows.toFixed(2),
      row.rounds.join(', '),
      row.walBytesPerRow,
      row.indexesMiB,
    ])
  )
  const [before, now] = results
  const saved = 1 - now.msPer1000Rows / before.msPer1000Rows
  console.log(`\nwithout the plain index: ${Math.round(saved * 100)} % less time per row`)
  const file = await writeResults('tenant_index', {
    date: new Date().toISOString(),
    rows: ROUNDS * BATCHES * ROWS,
    results,
    timeSaved: Math.round(saved * 1000) / 1000,
  })
  console.log(`wrote ${file}`)
} finally {
  for (const table of Object.values(variants)) await client.query(`DROP TABLE IF EXISTS ${table}`)
  await client.end()
}
