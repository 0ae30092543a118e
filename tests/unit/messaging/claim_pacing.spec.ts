import { test } from '@japa/runner'
import { ClaimPacing } from '#app/messaging/worker'

/** A pacing on a clock the test moves. */
function pacing(everyMs = 1000) {
  const clock = { ms: 0 }
  return { clock, claims: new ClaimPacing(everyMs, () => clock.ms) }
}

test.group('claim pacing', () => {
  test('the first pass claims; then a pass the relay handed deliveries to does not', ({
    assert,
  }) => {
    const { clock, claims } = pacing()
    assert.isTrue(claims.claimNow(3, true))
    clock.ms = 10
    assert.isFalse(claims.claimNow(3, true))
  })

  test('a pass handed nothing always claims: it was woken, or is due, for other deliveries', ({
    assert,
  }) => {
    const { clock, claims } = pacing()
    claims.claimNow(3, true)
    clock.ms = 1
    assert.isTrue(claims.claimNow(0, true))
    assert.isTrue(claims.claimNow(0, true))
  })

  test('under a stream of handed deliveries, a claim is made at least every interval', ({
    assert,
  }) => {
    const { clock, claims } = pacing(1000)
    const claimedAt: number[] = []
    for (clock.ms = 0; clock.ms <= 3000; clock.ms += 100)
      if (claims.claimNow(5, true)) claimedAt.push(clock.ms)
    assert.deepEqual(claimedAt, [0, 1000, 2000, 3000])
  })

  test('an owed claim is made by the next pass, once', ({ assert }) => {
    const { clock, claims } = pacing()
    claims.claimNow(3, true)
    clock.ms = 5
    claims.owe()
    assert.isTrue(claims.claimNow(3, true))
    clock.ms = 6
    assert.isFalse(claims.claimNow(3, true))
  })

  test('every pass claims while notifications cannot reach the process', ({ assert }) => {
    const { clock, claims } = pacing()
    claims.claimNow(3, true)
    clock.ms = 5
    assert.isTrue(claims.claimNow(3, false))
    clock.ms = 6
    assert.isTrue(claims.claimNow(3, false))
  })
})
