import { test } from '@japa/runner'
import { lastTurnServed, NO_GROUP } from '#app/platform/turns'

const [a, b, c, d] = ['1', '2', '3', '4'].map(
  (digit) => `0000000${digit}-0000-0000-0000-000000000000`
)

test.group('turns: where the next batch starts', () => {
  test('a batch that did not wrap around ends at the highest group it served', ({ assert }) => {
    assert.equal(lastTurnServed([c, b], a), c)
    assert.equal(lastTurnServed([a, b], NO_GROUP), b)
  })

  test('a batch that wrapped around ends at the highest group at or before its start', ({
    assert,
  }) => {
    // Started after c: served d, then wrapped to a and b.
    assert.equal(lastTurnServed([d, a, b], c), b)
    assert.equal(lastTurnServed([d, c], c), c)
  })

  test('an empty batch leaves the start where it was', ({ assert }) => {
    assert.equal(lastTurnServed([], c), c)
  })
})
