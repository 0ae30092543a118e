import { createRequire } from 'node:module'
import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import type { Knex } from 'knex'

/** The copy of knex Lucid runs on (not a dependency of ours): its QueryBuilder.extend. */
const lucidKnex = createRequire(import.meta.resolve('@adonisjs/lucid'))('knex') as {
  QueryBuilder: { extend(name: string, method: (this: Knex.QueryBuilder) => unknown): void }
}

/*
| patches/knex: a knex instance — each transaction's transactor is one —
| finds its query methods, its context methods and the EventEmitter's on one
| prototype shared by every instance, instead of ~140 properties defined on
| each (patches/README.md). These prove a transactor still is everything
| knex promises, and that QueryBuilder.extend still reaches instances made
| after it.
*/

/** The knex transactor Lucid runs a transaction on. */
function transactorOf(trx: unknown): Knex.Transaction {
  return (trx as { knexClient: Knex.Transaction }).knexClient
}

test.group('knex transactors (patches/knex)', () => {
  test('a transactor answers every query method, context method and event method', async ({
    assert,
  }) => {
    await db.transaction(async (trx) => {
      const transactor = transactorOf(trx)
      // The shared prototype, not ~140 own properties: what the patch saves on every transaction.
      assert.isBelow(Object.getOwnPropertyNames(transactor).length, 25)
      assert.notStrictEqual(Object.getPrototypeOf(transactor), Function.prototype)
      for (const method of ['select', 'where', 'insert', 'raw', 'queryBuilder', 'on', 'emit']) {
        assert.isFunction((transactor as unknown as Record<string, unknown>)[method], method)
      }
      assert.isTrue(transactor.isTransaction)
      // The client accessor reads the instance's own context, through the shared prototype.
      const { context } = transactor as unknown as { context: { client: unknown } }
      assert.strictEqual(transactor.client, context.client)

      const { rows } = await transactor.raw('SELECT txid_current() AS id, 41 + ? AS answer', [1])
      const built = await transactor.select(transactor.raw('txid_current() AS id'))
      assert.equal(rows[0].answer, 42)
      // Both ran on the transaction's connection: one transaction id.
      assert.equal(built[0].id, rows[0].id)

      const seen: string[] = []
      transactor.on('query', (query: { sql: string }) => seen.push(query.sql))
      await transactor.raw('SELECT 1')
      assert.deepEqual(seen, ['SELECT 1'])
    })
  })

  test('instances do not share their state: listeners and the client stay their own', async ({
    assert,
  }) => {
    await db.transaction(async (first) => {
      await db.transaction(async (second) => {
        const a = transactorOf(first)
        const b = transactorOf(second)
        assert.strictEqual(Object.getPrototypeOf(a), Object.getPrototypeOf(b))
        assert.notStrictEqual(a.client, b.client)
        let heardByA = 0
        a.on('query', () => heardByA++)
        await b.raw('SELECT 1')
        assert.equal(heardByA, 0)
        await a.raw('SELECT 1')
        assert.equal(heardByA, 1)
      })
    })
  })

  test('QueryBuilder.extend reaches transactors made after it', async ({ assert }) => {
    const name = `atriumProbe${Date.now()}`
    lucidKnex.QueryBuilder.extend(name, function () {
      return this.select(this.client.raw('7 AS seven'))
    })
    await db.transaction(async (trx) => {
      const transactor = transactorOf(trx) as unknown as Record<string, () => Promise<unknown>>
      assert.isFunction(transactor[name])
      assert.deepEqual(await transactor[name](), [{ seven: 7 }])
    })
  })
})
