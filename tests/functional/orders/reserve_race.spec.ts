import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { tenancy } from '#app/tenancy/tenancy'
import { newId } from '#app/platform/ids'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, resetOrders } from '#tests/helpers/orders'
import { reservations } from '#modules/inventory/services/stock'

/*
| reserve() while another transaction holds the item's row and changes it:
| reserve() waits for the row, then judges the order on what was committed —
| never on what it could have read before the other transaction finished.
| (Also the guard for any faster reserve() that reads first and locks later.)
*/
test.group('inventory reserve(): stock that moves while the order waits for it', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
  })

  async function outboxTypes(orderId: string) {
    const rows = await db
      .from('messaging_outbox')
      .whereRaw(`payload->>'orderId' = ?`, [orderId])
      .select('type')
    return rows.map((row) => row.type as string).sort()
  }

  for (const [what, change, reason] of [
    ['taken by someone else', `on_hand = reserved`, 'short'],
    ['deactivated', `active = false`, 'inactive'],
  ] as const) {
    test(`the item is ${what} meanwhile → rejected, and nothing reserved, logged or announced`, async ({
      client,
      assert,
    }) => {
      const owner = await registerUser(client)
      const tenantId = owner.activeTenantId!
      await createItem(client, owner, { sku: 'HOT', onHand: 5 })
      const orderId = newId()

      // Another transaction holds the row and changes it, committing only once reserve() waits.
      const holder = await db.transaction()
      await holder.rawQuery(`UPDATE inventory_items SET ${change} WHERE sku = 'HOT'`)
      const reserving = tenancy.run(tenantId, (trx) =>
        reservations.reserve(trx, tenantId, orderId, [{ sku: 'HOT', quantity: 2 }])
      )
      for (;;) {
        const { rows } = await db.rawQuery(
          `SELECT count(*)::int AS waiting FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND query ILIKE '%inventory_items%'`
        )
        if (rows[0].waiting > 0) break
        await new Promise((resolve) => setImmediate(resolve))
      }
      await holder.commit()
      await reserving

      const reservation = await db
        .from('inventory_reservations')
        .where('order_id', orderId)
        .firstOrFail()
      assert.equal(reservation.status, 'rejected')
      assert.deepEqual(await outboxTypes(orderId), ['inventory.stock_rejected'])
      const stock = await db.from('inventory_items').where('sku', 'HOT').firstOrFail()
      assert.equal(stock.reserved, 0)
      const ledger = await db.from('inventory_ledger').where('order_id', orderId)
      assert.lengthOf(ledger, 0)
      const [rejected] = await db
        .from('messaging_outbox')
        .whereRaw(`payload->>'orderId' = ?`, [orderId])
        .select('payload')
      assert.equal(rejected.payload.shortages[0].reason, reason)
    })
  }

  test('lines of one SKU are summed, SKUs reserved together, each logged once', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const tenantId = owner.activeTenantId!
    await createItem(client, owner, { sku: 'A', onHand: 5 })
    await createItem(client, owner, { sku: 'B', onHand: 5 })
    const orderId = newId()
    await tenancy.run(tenantId, (trx) =>
      reservations.reserve(trx, tenantId, orderId, [
        { sku: 'B', quantity: 1 },
        { sku: 'A', quantity: 2 },
        { sku: 'B', quantity: 1 },
      ])
    )
    const stock = await db.from('inventory_items').orderBy('sku').select('sku', 'reserved')
    assert.deepEqual(
      stock.map((row) => [row.sku, row.reserved]),
      [
        ['A', 2],
        ['B', 2],
      ]
    )
    assert.deepEqual(await outboxTypes(orderId), ['inventory.stock_reserved'])
    const ledger = await db.from('inventory_ledger').where('order_id', orderId).orderBy('sku')
    assert.deepEqual(
      ledger.map((row) => [row.sku, row.reserved_delta]),
      [
        ['A', 2],
        ['B', 2],
      ]
    )
  })
})
