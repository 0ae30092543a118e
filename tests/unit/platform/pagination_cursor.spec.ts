import { test } from '@japa/runner'
import { decodeCursor, encodeCursor } from '#app/http/pagination'
import { ProblemException } from '#app/http/problem'

test.group('pagination cursors', () => {
  test('round-trip one key or two, exactly as given', ({ assert }) => {
    const id = '01a20190-f977-756d-b7a4-51b1b5d80868'
    assert.deepEqual(decodeCursor(encodeCursor([id])), [id])
    assert.deepEqual(decodeCursor(encodeCursor(['SKU-1', id])), ['SKU-1', id])
    assert.deepEqual(decodeCursor(encodeCursor([42, id])), [42, id])
  })

  test('cursors are URL-safe', ({ assert }) => {
    assert.match(
      encodeCursor(['a/b+c=', '01a20190-f977-756d-b7a4-51b1b5d80868']),
      /^[A-Za-z0-9_-]+$/
    )
  })

  for (const bad of [
    '',
    '%%%',
    Buffer.from('[1,2,3]').toString('base64url'),
    Buffer.from('["v2",{},1]').toString('base64url'),
    Buffer.from('["v2"]').toString('base64url'),
    Buffer.from('["v2",1,2,3]').toString('base64url'),
    // A cursor of the first format (millisecond timestamps) is refused, not misread.
    Buffer.from(
      '["v1","2026-05-01T10:00:00.123Z","01a20190-f977-756d-b7a4-51b1b5d80868"]'
    ).toString('base64url'),
    Buffer.from(`["v2","${'x'.repeat(300)}",1]`).toString('base64url'),
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
