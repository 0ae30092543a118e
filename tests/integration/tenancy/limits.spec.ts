import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { tenancy } from '#app/tenancy/tenancy'
import { newId } from '#app/platform/ids'
import { createNotesTable, withUnitOfWorkLimits } from '#tests/helpers/database'
import { until, waitingForLock } from '#tests/helpers/waiting'

/*
| Every unit of work runs with a statement timeout, a lock timeout and an
| idle-in-transaction timeout (app/tenancy/limits.ts), set for its
| transaction only. These prove each way into tenant data gets them, that
| each limit ends what it should and rolls it back, and that tenancy.write
| retries a sequence PostgreSQL chose to give way in a deadlock.
*/
test.group('units of work: statement, lock and idle limits', (group) => {
  const table = `test_limits_${process.pid}`
  const tenantId = newId()
  group.setup(() => createNotesTable(table))
  group.each.setup(async () => {
    await db.rawQuery(`TRUNCATE ${table}`)
  })

  const notes = async () => {
    const rows: Array<{ note: string }> = await db.from(table).orderBy('note').select('note')
    return rows.map((row) => row.note)
  }
  const insertNote = (id: string, note: string) => ({
    text: `INSERT INTO ${table} (id, tenant_id, note) VALUES ($1, $2, $3)`,
    values: [id, tenantId, note],
  })
  const SHOW_LIMITS = `SELECT current_setting('statement_timeout') AS statement,
                              current_setting('lock_timeout') AS lock,
                              current_setting('idle_in_transaction_session_timeout') AS idle`

  test('every way into tenant data runs under the limits', async ({ assert }) => {
    const userId = newId()
    const expected = { statement: '4321ms', lock: '1234ms', idle: '5678ms' }
    await withUnitOfWorkLimits(
      { statementTimeoutMs: 4321, lockTimeoutMs: 1234, idleInTransactionTimeoutMs: 5678 },
      async () => {
        const firstRow = (result: { rows: Array<Record<string, unknown>> }) => result.rows[0]
        const seen = {
          run: await tenancy.run(tenantId, (trx) => trx.rawQuery(SHOW_LIMITS).then(firstRow)),
          // Bound values take the entry's other path (the extended protocol).
          runBound: await tenancy.run(tenantId, (trx) =>
            trx.rawQuery(`${SHOW_LIMITS}, ?::int AS n`, [1]).then(firstRow)
          ),
          runAsUser: await tenancy.runAsUser(userId, (trx) =>
            trx.rawQuery(SHOW_LIMITS).then(firstRow)
          ),
          enter: await db.transaction(async (trx) => {
            await tenancy.enter(trx, { userId })
            return trx.rawQuery(SHOW_LIMITS).then(firstRow)
          }),
          read: await tenancy.read({ tenantId }, SHOW_LIMITS).then((rows) => rows[0]),
          write: await tenancy
            .write({ tenantId }, [{ text: SHOW_LIMITS, values: [] }])
            .then(([result]) => firstRow(result)),
        }
        for (const [path, row] of Object.entries(seen)) {
          assert.deepInclude(row, expected, path)
        }
      }
    )
  })

  test('a statement that runs past its limit is cancelled and its work rolled back', async ({
    assert,
  }) => {
    await withUnitOfWorkLimits({ statementTimeoutMs: 150 }, async () => {
      await assert.rejects(
        () =>
          tenancy.run(tenantId, async (trx) => {
            await trx.rawQuery(`INSERT INTO ${table} (id, tenant_id, note) VALUES (?, ?, ?)`, [
              newId(),
              tenantId,
              'run',
            ])
            await trx.rawQuery('SELECT pg_sleep(10)')
          }),
        /statement timeout/
      )
      const written = tenancy.write({ tenantId }, [
        insertNote(newId(), 'write'),
        { text: 'SELECT pg_sleep(10)', values: [] },
      ])
      await assert.rejects(() => written, /statement timeout/)
      const code = await written.catch((error: { code?: string }) => error.code)
      assert.equal(code, '57014')
    })
    assert.deepEqual(await notes(), [])
  })

  test('a row lock awaited past its limit fails with lock_not_available; nothing is written', async ({
    assert,
  }) => {
    const id = newId()
    await db.table(table).insert({ id, tenant_id: tenantId, note: 'kept' })
    const holder = await db.transaction()
    try {
      await holder.from(table).where('id', id).forUpdate().first()
      await withUnitOfWorkLimits({ lockTimeoutMs: 150 }, async () => {
        const change = {
          text: `UPDATE ${table} SET note = 'changed' WHERE id = $1`,
          values: [id],
        }
        const written = tenancy.write({ tenantId }, [insertNote(newId(), 'first'), change])
        const code = await written.then(
          () => 'written',
          (error: { code?: string }) => error.code
        )
        assert.equal(code, '55P03')
        await assert.rejects(
          () =>
            tenancy.run(tenantId, (trx) =>
              trx.from(table).where('id', id).update({ note: 'changed' })
            ),
          /lock timeout/
        )
      })
    } finally {
      await holder.rollback()
    }
    assert.deepEqual(await notes(), ['kept'])
  })

  test('a unit of work left idle inside its transaction is ended; the pool carries on', async ({
    assert,
  }) => {
    let ended = false
    await withUnitOfWorkLimits({ idleInTransactionTimeoutMs: 200 }, async () => {
      await assert.rejects(() =>
        tenancy.run(tenantId, async (trx) => {
          await trx.rawQuery(`INSERT INTO ${table} (id, tenant_id, note) VALUES (?, ?, ?)`, [
            newId(),
            tenantId,
            'idle',
          ])
          const { rows } = await trx.rawQuery('SELECT pg_backend_pid() AS pid')
          // What a bug looks like: the transaction open while JavaScript awaits something else.
          ended = await until(async () => {
            const { rows: alive } = await db.rawQuery(
              'SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ?',
              [rows[0].pid]
            )
            return alive[0].n === 0
          }, 10_000)
          await trx.rawQuery('SELECT 1')
        })
      )
    })
    assert.isTrue(ended, 'PostgreSQL ended the idle transaction’s session')
    assert.deepEqual(await notes(), [])
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => tenancy.read({ tenantId }, 'SELECT 1 AS one'))
    )
    assert.lengthOf(answers, 20)
  })

  test('a deadlock: tenancy.write gives way, is sent again, and lands once', async ({ assert }) => {
    const first = newId()
    const second = newId()
    await db.table(table).multiInsert([
      { id: first, tenant_id: tenantId, note: 'first' },
      { id: second, tenant_id: tenantId, note: 'second' },
    ])
    const holder = await db.transaction()
    let written: Promise<Array<{ rowCount: number | null }>> | undefined
    try {
      // The holder waits longest before it looks for a deadlock, so the write is the one to give way.
      await holder.rawQuery(`SET LOCAL deadlock_timeout = '20s'`)
      await holder.from(table).where('id', second).forUpdate().first()
      written = tenancy.write({ tenantId }, [
        { text: `UPDATE ${table} SET note = note || '+write' WHERE id = $1`, values: [first] },
        { text: `UPDATE ${table} SET note = note || '+write' WHERE id = $1`, values: [second] },
      ])
      written.catch(() => {})
      assert.isTrue(await waitingForLock(`UPDATE ${table}`), 'the write waits for the holder')
      // Closes the cycle; returns once PostgreSQL has rolled the write's first attempt back.
      await holder
        .from(table)
        .where('id', first)
        .update({ note: db.raw(`note || '+holder'`) })
      await holder
        .from(table)
        .where('id', second)
        .update({ note: db.raw(`note || '+holder'`) })
      await holder.commit()
    } finally {
      if (!holder.isCompleted) await holder.rollback()
    }
    const results = await written!
    assert.deepEqual(
      results.map((result) => result.rowCount),
      [1, 1]
    )
    assert.deepEqual(await notes(), ['first+holder+write', 'second+holder+write'])
  })
})
