import { test } from '@japa/runner'
import { isUuid, newId } from '#app/platform/ids'

test.group('ids', () => {
  test('ids made back to back are version 7, unique and sort in the order they were made', ({
    assert,
  }) => {
    // Many per millisecond, and past several refills of the random pool (256 ids each).
    const ids = Array.from({ length: 5000 }, () => newId())
    for (const id of ids) assert.isTrue(isUuid(id), id)
    assert.isTrue(
      ids.every((id) => id[14] === '7'),
      'version 7'
    )
    assert.isTrue(
      ids.every((id) => '89ab'.includes(id[19])),
      'RFC 9562 variant'
    )
    assert.equal(new Set(ids).size, ids.length)
    const sorted = [...ids].sort()
    assert.deepEqual(sorted, ids)
  })

  test('an id starts with the time it was made, in milliseconds', ({ assert }) => {
    const before = Date.now()
    const id = newId()
    const after = Date.now()
    const msecs = Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16)
    // A counter that ran over within one millisecond moves the time on by one.
    assert.isAtLeast(msecs, before)
    assert.isAtMost(msecs, after + 1)
  })

  test('the random part differs from id to id, not only the counter', ({ assert }) => {
    // The last 5 bytes are random only (the counter ends in the byte before them).
    const tails = new Set(Array.from({ length: 1000 }, () => newId().slice(-10)))
    assert.equal(tails.size, 1000)
  })
})
