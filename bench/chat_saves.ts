/*
| A streaming reply's partial saves, side by side in one run: chat_messages'
| searchable words computed at every save (before: a stored tsvector over the
| whole content) against computed once the reply has settled (now: NULL while
| status = 'generating', the table's real definition).
|
| Two scratch copies of chat_messages (LIKE …, so "now" is whatever the
| migrations made it), each with FILLER settled messages so the GIN index is
| not empty. For each reply length, a reply streams at RATE tokens/s and is
| saved every CHAT_SAVE_EVERY_MS with the runner's statement (the whole text so
| far), then settled with its final text, as the runner does. Per reply: the
| database time of its saves and of its end (one connection, statements in
| sequence, so it is each statement's round trip) and the WAL written.
| Alternating rounds; each figure is the median of ROUNDS.
|
|   npm run bench:chat-saves   (BENCH_RATE=50 BENCH_ROUNDS=5 BENCH_FILLER=20000;
|                               DATABASE_URL, else the bench's embedded PostgreSQL)
*/
import { bootInProcess } from './lib/in_process_app.js'
import { printTable, writeResults } from './lib/report.js'

const RATE = Number(process.env.BENCH_RATE ?? 50)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const FILLER = Number(process.env.BENCH_FILLER ?? 20_000)

const atrium = await bootInProcess()
const { default: db } = await import('@adonisjs/lucid/services/db')
const { chatConfig } = await import('#modules/chat/config')
const { newId } = await import('#app/platform/ids')

const TABLES = {
  'tsvector at every save (before)': 'bench_saves_before',
  'tsvector once settled (now)': 'bench_saves_now',
} as const
type Variant = keyof typeof TABLES
/** A short reply, the default longest one (CHAT_MAX_OUTPUT_TOKENS), and a long one a tenant may allow. */
const LENGTHS = [...new Set([400, chatConfig.maxOutputTokens, 8000])].sort((a, b) => a - b)
const tokensPerSave = Math.max(1, Math.round((RATE * chatConfig.saveEveryMs) / 1000))

async function createTables() {
  await db.rawQuery(`DROP TABLE IF EXISTS ${Object.values(TABLES).join(', ')}`)
  await db.rawQuery(
    `CREATE TABLE bench_saves_now (LIKE chat_messages
       INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING INDEXES)`
  )
  // The expression before this change, as migration 1795966026772 created it.
  await db.rawQuery(
    `CREATE TABLE bench_saves_before (LIKE chat_messages
       INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)`
  )
  await db.rawQuery(
    `ALTER TABLE bench_saves_before DROP COLUMN search,
       ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED`
  )
  await db.rawQuery('CREATE INDEX ON bench_saves_before USING gin (search)')
  for (const table of Object.values(TABLES)) {
    await db.rawQuery(
      `INSERT INTO ${table} (id, tenant_id, conversation_id, user_id, role, content)
       SELECT gen_random_uuid(), ?, ?, ?, 'assistant',
              (SELECT string_agg('w' || (floor(random() * 2000))::int, ' ')
                 FROM generate_series(1, 60) WHERE g > 0)
         FROM generate_series(1, ?) AS g`,
      [newId(), newId(), newId(), FILLER]
    )
    await db.rawQuery(`VACUUM ANALYZE ${table}`)
  }
}

/** One reply of `tokens` words, streamed and saved as the runner does. */
async function streamOne(table: string, tokens: number) {
  const words = Array.from({ length: tokens }, () => `w${Math.floor(Math.random() * 2000)}`)
  const id = newId()
  await db.rawQuery(
    `INSERT INTO ${table} (id, tenant_id, conversation_id, user_id, role, status)
     VALUES (?, ?, ?, ?, 'assistant', 'generating')`,
    [id, newId(), newId(), newId()]
  )
  const walBefore = await walPosition()
  let saves = 0
  const savesStarted = performance.now()
  for (let upTo = tokensPerSave; upTo < tokens; upTo += tokensPerSave) {
    // The runner's saveContent: the whole text so far, by the reply's id, while it streams.
    await db.rawQuery(
      `UPDATE ${table} SET content = ?, updated_at = now() WHERE id = ? AND status = 'generating'`,
      [words.slice(0, upTo).join(' '), id]
    )
    saves++
  }
  const savesMs = performance.now() - savesStarted
  const endStarted = performance.now()
  await db.rawQuery(
    `UPDATE ${table} SET content = ?, status = 'complete', updated_at = now() WHERE id = ?`,
    [words.join(' '), id]
  )
  const endMs = performance.now() - endStarted
  const written = await db.rawQuery(
    'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), ?::pg_lsn) AS bytes',
    [walBefore]
  )
  const walBytes = Number(written.rows[0].bytes)
  return { saves, savesMs, endMs, walBytes }
}

async function walPosition() {
  const current = await db.rawQuery('SELECT pg_current_wal_lsn() AS lsn')
  return current.rows[0].lsn as string
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]

try {
  await createTables()
  const runs = new Map<string, Array<Awaited<ReturnType<typeof streamOne>>>>()
  for (const tokens of LENGTHS) await streamOne(TABLES['tsvector once settled (now)'], tokens)
  for (let round = 0; round < ROUNDS; round++) {
    for (const tokens of LENGTHS) {
      for (const variant of Object.keys(TABLES) as Variant[]) {
        const key = `${tokens}|${variant}`
        runs.set(key, [...(runs.get(key) ?? []), await streamOne(TABLES[variant], tokens)])
      }
    }
  }
  const rows = LENGTHS.flatMap((tokens) =>
    (Object.keys(TABLES) as Variant[]).map((variant) => {
      const each = runs.get(`${tokens}|${variant}`)!
      return {
        tokens,
        variant,
        saves: each[0].saves,
        savesMs: Math.round(median(each.map((run) => run.savesMs)) * 10) / 10,
        endMs: Math.round(median(each.map((run) => run.endMs)) * 10) / 10,
        walKiB: Math.round(median(each.map((run) => run.walBytes)) / 1024),
      }
    })
  )
  printTable(
    ['reply tokens', 'variant', 'saves', 'saves ms', 'end ms', 'WAL KiB'],
    rows.map((row) => [row.tokens, row.variant, row.saves, row.savesMs, row.endMs, row.walKiB])
  )
  const ratios = LENGTHS.map((tokens) => {
    const [before, now] = rows.filter((row) => row.tokens === tokens)
    return {
      tokens,
      databaseMs:
        Math.round(((now.savesMs + now.endMs) / (before.savesMs + before.endMs)) * 100) / 100,
      wal: Math.round((now.walKiB / before.walKiB) * 100) / 100,
    }
  })
  for (const ratio of ratios)
    console.log(
      `${ratio.tokens} tokens: database time now ÷ before ${ratio.databaseMs}, WAL ${ratio.wal}`
    )
  const file = await writeResults('chat_saves', {
    date: new Date().toISOString(),
    database: atrium.label,
    rate: RATE,
    saveEveryMs: chatConfig.saveEveryMs,
    tokensPerSave,
    filler: FILLER,
    rounds: ROUNDS,
    rows,
    ratios,
  })
  console.log(`wrote ${file}`)
} finally {
  await db.rawQuery(`DROP TABLE IF EXISTS ${Object.values(TABLES).join(', ')}`)
  await atrium.stop()
}
