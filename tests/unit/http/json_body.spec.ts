import { test } from '@japa/runner'
import { DateTime } from 'luxon'
import app from '@adonisjs/core/services/app'
import { safeStringify } from '@poppinss/utils/json'
import { serializeJsonBody } from '#app/http/json_body'

test.group('JSON answers: native first, the safe way when it throws', () => {
  test('writes what AdonisJS’s safe serializer writes, key order kept', ({ assert }) => {
    const bodies: unknown[] = [
      { pong: true, time: new Date(0).toISOString() },
      { z: 1, a: 2, m: { y: [1, 'two', null], b: undefined, f: () => 1 } },
      { at: DateTime.fromISO('2026-12-01T08:00:00.000Z', { zone: 'utc' }), when: new Date(0) },
      { ratio: Number.NaN, infinite: Number.POSITIVE_INFINITY, list: [undefined, () => 1] },
      { text: 'quote " backslash \\ newline \n lone \ud800 emoji 😀 nul \u0000' },
      { nested: { toJSON: () => ({ replaced: true }) } },
      [],
      'plain',
      42,
      null,
    ]
    for (const body of bodies) {
      assert.strictEqual(serializeJsonBody(body), safeStringify(body))
    }
    assert.equal(serializeJsonBody({ z: 1, a: 2 }), '{"z":1,"a":2}')
  })

  test('a BigInt is written as a string and a cycle is left out, not thrown', ({ assert }) => {
    const loop: { name: string; self?: unknown } = { name: 'loop' }
    loop.self = loop
    assert.equal(
      serializeJsonBody({ count: 2n ** 64n, loop, last: true }),
      '{"count":"18446744073709551616","loop":{"name":"loop"},"last":true}'
    )
  })

  test('an error thrown by a toJSON is not swallowed', ({ assert }) => {
    const broken = {
      toJSON() {
        throw new RangeError('not serializable')
      },
    }
    assert.throws(() => serializeJsonBody({ broken }), 'not serializable')
  })

  test('is the serializer the HTTP server uses', ({ assert }) => {
    assert.strictEqual(
      app.config.get<{ serializeJSON: unknown }>('app.http').serializeJSON,
      serializeJsonBody
    )
  })
})
