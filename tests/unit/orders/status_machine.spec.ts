import { test } from '@japa/runner'
import { canTransition } from '#modules/orders/services/orders'
import type { OrderStatus } from '#modules/orders/models/order'

const ALL: OrderStatus[] = ['pending', 'confirmed', 'rejected', 'cancelled', 'fulfilled']

/** Every move the saga and the API may make; anything else is a 409 naming both states. */
const ALLOWED = new Set([
  'pending→confirmed',
  'pending→rejected',
  'pending→cancelled',
  'confirmed→fulfilled',
  'confirmed→cancelled',
])

test.group('order status machine', () => {
  test('allows exactly the documented moves', ({ assert }) => {
    for (const from of ALL) {
      for (const to of ALL) {
        assert.equal(canTransition(from, to), ALLOWED.has(`${from}→${to}`), `${from} → ${to}`)
      }
    }
  })

  test('rejected, cancelled and fulfilled are final', ({ assert }) => {
    for (const final of ['rejected', 'cancelled', 'fulfilled'] as const) {
      assert.isTrue(
        ALL.every((to) => !canTransition(final, to)),
        final
      )
    }
  })

  test('no status moves to itself (a repeated step is not a transition)', ({ assert }) => {
    assert.isTrue(ALL.every((status) => !canTransition(status, status)))
  })
})
