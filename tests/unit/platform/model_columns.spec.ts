import { test } from '@japa/runner'
import Order from '#modules/orders/models/order'
import Item from '#modules/inventory/models/item'

/*
 * What every module's models rely on from app/platform/columns.ts: the API's
 * shapes (UTC "Z" dates, numbers for int8 money, JSON for jsonb, internal
 * columns left out) come from the column options, not from each service.
 */
test.group('model columns', () => {
  test('a row as pg returns it serializes to the API shape', ({ assert }) => {
    const item = new Item()
    item.$consumeAdapterResult({
      id: '01900000-0000-7000-8000-000000000001',
      tenant_id: '01900000-0000-7000-8000-000000000002',
      sku: 'SKU-1',
      name: 'Mug',
      price_minor: '1250',
      currency: 'EUR',
      active: true,
      on_hand: 7,
      reserved: 2,
      created_at: new Date('2026-01-02T03:04:05.678Z'),
      updated_at: new Date('2026-01-02T03:04:05.678Z'),
    })
    assert.deepEqual(item.serialize(), {
      sku: 'SKU-1',
      name: 'Mug',
      priceMinor: 1250,
      currency: 'EUR',
      active: true,
      onHand: 7,
      reserved: 2,
      available: 5,
      createdAt: '2026-01-02T03:04:05.678Z',
      updatedAt: '2026-01-02T03:04:05.678Z',
    })
  })

  test('jsonb arrays are written as JSON text, not as a PostgreSQL array', ({ assert }) => {
    const prepare = Order.$getColumn('lines')!.prepare!
    assert.equal(
      prepare([{ sku: 'A', quantity: 2 }], 'lines', new Order()),
      '[{"sku":"A","quantity":2}]'
    )
    assert.isNull(prepare(null, 'lines', new Order()))
  })
})
