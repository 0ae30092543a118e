import { test } from '@japa/runner'
import { decodeCursor, encodeCursor } from '#app/http/pagination'
import { ProblemException } from '#app/http/problem'

test.group('pagination cursors', () => {
  test('round-trip dates as ISO strings and keep ids', ({ assert }) => {
    const when = new Date('2026-05-01T10:00:00.123Z')
    assert.deepEqual(decodeCursor(encodeCursor(when, 'abc')), ['2026-05-01T10:00:00.123Z', 'abc'])
    assert.deepEqual(decodeCursor(encodeCursor(42, 7)), [42, 7])
  })

  test('cursors are URL-safe', ({ assert }) => {
    assert.match(
      encodeCursor(new Date(), '01a20190-f977-756d-b7a4-51b1b5d80868'),
      /^[A-Za-z0-9_-]+$/
    )
  })

  for (const bad of [
    '',
    '%%%',
    Buffer.from('[1,2,3]').toString('base64url'),
    Buffer.from('["v1",{},1]').toString('base64url'),
    Buffer.from(`["v1","${'x'.repeat(300)}",1]`).toString('base64url'),
  ]) {
    test(`reject ${JSON.stringify(bad.slice(0, 20))} with a 422 problem`, ({ assert }) => {
      try {
        decodeCursor(bad)
        assert.fail('expected a ProblemException')
      } catch (error) {
        assert.instanceOf(error, ProblemException)
        assert.equal((error as ProblemException).problemStatus, 422)
        assert.equal((error as ProblemException).fieldErrors?.[0].field, 'cursor')
      }
    })
  }
})
