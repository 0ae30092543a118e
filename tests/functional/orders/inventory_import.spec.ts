import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { processOperations } from '#app/operations/operations'
import { assertMatchesOpenApi, assertProblem } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, resetOrders } from '#tests/helpers/orders'

function csvOf(rows: string[][]) {
  return rows.map((row) => row.join(',')).join('\n')
}

test.group('inventory import as an operation', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
    await db.rawQuery('TRUNCATE platform_operations')
  })

  test('202 with the operation; the worker imports in batches; bad rows are listed by line', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'OLD-1', onHand: 10 })
    const rows = [['sku', 'name', 'priceMinor', 'currency', 'onHand']]
    for (let index = 0; index < 250; index++) {
      rows.push([`NEW-${index}`, `New ${index}`, String(100 + index), 'EUR', '5'])
    }
    rows.push(['OLD-1', 'Renamed', '999', 'EUR', '4'])
    rows.push(['bad sku!', 'Broken', '1', 'EUR', '1'])
    rows.push(['NEG-1', 'Negative', '-5', 'EUR', '1'])

    const started = await client
      .post('/api/v1/inventory/imports')
      .bearerToken(owner.tokens.accessToken)
      .json({ csv: csvOf(rows) })
    started.assertStatus(202)
    assertMatchesOpenApi(started, 'POST', '/api/v1/inventory/imports')
    assert.equal(started.header('location'), `/api/v1/operations/${started.body().id}`)
    assert.equal(started.body().status, 'queued')

    assert.equal(await processOperations(), 1)
    const done = await client
      .get(`/api/v1/operations/${started.body().id}`)
      .bearerToken(owner.tokens.accessToken)
    assert.equal(done.body().status, 'succeeded')
    assert.equal(done.body().progress, 100)
    const result = done.body().result
    assert.include(result, { rows: 253, created: 250, updated: 1 })
    assert.deepEqual(
      result.failed.map((entry: { line: number; sku: string }) => [entry.line, entry.sku]),
      [
        [253, 'bad sku!'],
        [254, 'NEG-1'],
      ]
    )

    const renamed = await db.from('inventory_items').where('sku', 'OLD-1').first()
    assert.include(renamed, { name: 'Renamed', on_hand: 4 })
    const adjustment = await db
      .from('inventory_ledger')
      .where({ sku: 'OLD-1', reason: 'import' })
      .first()
    assert.equal(adjustment.on_hand_delta, -6)
    const [{ n }] = await db.from('inventory_items').count('* as n')
    assert.equal(Number(n), 251)
  })

  test('a file that is not acceptable is a 422 now, and nothing is queued', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    for (const csv of [
      'sku,name\nA,B',
      'sku,name,priceMinor,currency,colour\nA,B,1,EUR,red',
      'sku,name,priceMinor,currency\n',
    ]) {
      const response = await client
        .post('/api/v1/inventory/imports')
        .bearerToken(owner.tokens.accessToken)
        .json({ csv })
      assertProblem(response, 422, 'validation_failed')
      assert.equal(response.body().errors[0].field, 'csv')
    }
    const [{ n }] = await db.from('platform_operations').count('* as n')
    assert.equal(Number(n), 0)
  })

  test('only owners and admins import; members see only their own operations', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const member = await joinAs(client, owner, 'member')
    assertProblem(
      await client
        .post('/api/v1/inventory/imports')
        .bearerToken(member.token)
        .json({ csv: 'sku,name,priceMinor,currency\nA,B,1,EUR' }),
      403,
      'forbidden'
    )
    const started = await client
      .post('/api/v1/inventory/imports')
      .bearerToken(owner.tokens.accessToken)
      .json({ csv: 'sku,name,priceMinor,currency\nA,B,1,EUR' })
    started.assertStatus(202)

    const mine = await client.get('/api/v1/operations').bearerToken(owner.tokens.accessToken)
    mine.assertStatus(200)
    assertMatchesOpenApi(mine, 'GET', '/api/v1/operations')
    assert.deepEqual(
      mine.body().data.map((operation: { id: string }) => operation.id),
      [started.body().id]
    )
    const theirs = await client.get('/api/v1/operations').bearerToken(member.token)
    assert.deepEqual(theirs.body().data, [])
    assertProblem(
      await client.get(`/api/v1/operations/${started.body().id}`).bearerToken(member.token),
      404,
      'operation_not_found'
    )
  })

  test('cancelled before it runs: nothing is imported', async ({ client, assert }) => {
    const owner = await registerUser(client)
    const started = await client
      .post('/api/v1/inventory/imports')
      .bearerToken(owner.tokens.accessToken)
      .json({ csv: 'sku,name,priceMinor,currency\nA,B,1,EUR' })
    const cancelled = await client
      .delete(`/api/v1/operations/${started.body().id}`)
      .bearerToken(owner.tokens.accessToken)
    cancelled.assertStatus(202)
    assert.equal(cancelled.body().status, 'cancelled')
    await processOperations()
    const [{ n }] = await db.from('inventory_items').count('* as n')
    assert.equal(Number(n), 0)
  })
})
