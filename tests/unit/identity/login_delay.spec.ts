import { test } from '@japa/runner'
import { SLOW_DOWN_AFTER, loginDelayMs } from '#modules/identity/services/auth_limits'

test.group('login slow-down', () => {
  test('no delay below the threshold, then doubling, capped at five seconds', ({ assert }) => {
    assert.equal(loginDelayMs(0), 0)
    assert.equal(loginDelayMs(SLOW_DOWN_AFTER - 1), 0)
    assert.equal(loginDelayMs(SLOW_DOWN_AFTER), 250)
    assert.equal(loginDelayMs(SLOW_DOWN_AFTER + 1), 500)
    assert.equal(loginDelayMs(SLOW_DOWN_AFTER + 3), 2000)
    assert.equal(loginDelayMs(SLOW_DOWN_AFTER + 5), 5000)
    assert.equal(loginDelayMs(10_000), 5000)
  })
})
