import { test } from '@japa/runner'
import { backoffMs } from '#app/platform/job_queue'

test.group('backoff', () => {
  test('doubles per attempt from the base, within ±20% jitter', ({ assert }) => {
    for (let attempts = 1; attempts <= 6; attempts++) {
      const expected = 1000 * 2 ** (attempts - 1)
      for (let sample = 0; sample < 200; sample++) {
        const delay = backoffMs(attempts, { baseMs: 1000, maxMs: 10 ** 9 })
        assert.isAtLeast(delay, expected * 0.8)
        assert.isAtMost(delay, expected * 1.2)
      }
    }
  })

  test('never waits more than the cap (plus jitter), however many attempts', ({ assert }) => {
    for (const attempts of [10, 30, 1000]) {
      assert.isAtMost(backoffMs(attempts, { baseMs: 1000, maxMs: 60_000 }), 72_000)
      assert.isAtLeast(backoffMs(attempts, { baseMs: 1000, maxMs: 60_000 }), 48_000)
    }
  })

  test('jitter spreads retries that failed together', ({ assert }) => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffMs(3)))
    assert.isAbove(delays.size, 10)
  })

  test('attempt 0 or less waits the base, not a fraction of it', ({ assert }) => {
    assert.isAtLeast(backoffMs(0, { baseMs: 500 }), 400)
    assert.isAtLeast(backoffMs(-3, { baseMs: 500 }), 400)
  })
})
