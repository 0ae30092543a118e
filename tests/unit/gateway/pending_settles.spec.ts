import { test } from '@japa/runner'
import { PendingSettles } from '#modules/gateway/services/quotas'

/** A settle whose store write the test finishes by hand. */
function write() {
  let finish!: () => void
  let fail!: (error: Error) => void
  const stored = new Promise<void>((resolve, reject) => {
    finish = resolve
    fail = reject
  })
  // The caller (metering's finish) handles the failure; here nobody else listens.
  stored.catch(() => {})
  return { stored, finish, fail }
}

const counters = (...keys: string[]) => keys.map((key) => ({ key }))

/** Whether a promise has settled, after the microtasks queued so far have run. */
async function isDone(promise: Promise<unknown>) {
  let done = false
  void promise.then(
    () => (done = true),
    () => (done = true)
  )
  await new Promise((resolve) => setImmediate(resolve))
  return done
}

test.group('gateway: settles on their way', () => {
  test('nothing to wait for when no settle of those counters is on its way', ({ assert }) => {
    const pending = new PendingSettles()
    assert.isNull(pending.before(counters('a', 'b')))
    pending.add(['a'], write().stored)
    assert.isNull(pending.before(counters('b', 'c')), 'another counter’s settle is not waited for')
    assert.equal(pending.size, 1)
  })

  test('a call on a counter waits until its settle is stored, and no longer', async ({
    assert,
  }) => {
    const pending = new PendingSettles()
    const first = write()
    pending.add(['tokens', 'spend'], first.stored)
    const waiting = pending.before(counters('requests', 'spend'))!
    assert.isNotNull(waiting)
    assert.isFalse(await isDone(waiting))
    first.finish()
    assert.isTrue(await isDone(waiting))
    assert.isNull(pending.before(counters('tokens', 'spend')), 'a stored settle is forgotten')
    assert.equal(pending.size, 0)
  })

  test('a failed settle ends the wait too (the estimate stays counted; the call goes on)', async ({
    assert,
  }) => {
    const pending = new PendingSettles()
    const failing = write()
    pending.add(['tokens'], failing.stored)
    const waiting = pending.before(counters('tokens'))!
    failing.fail(new Error('store unreachable'))
    assert.isTrue(await isDone(waiting))
    await waiting
    assert.isNull(pending.before(counters('tokens')))
  })

  test('the newest settle of a counter is the one waited for; an older one finishing does not end it', async ({
    assert,
  }) => {
    const pending = new PendingSettles()
    const older = write()
    const newer = write()
    pending.add(['tokens'], older.stored)
    pending.add(['tokens'], newer.stored)
    older.finish()
    await new Promise((resolve) => setImmediate(resolve))
    const waiting = pending.before(counters('tokens'))
    assert.isNotNull(waiting, 'the newer settle is still on its way')
    assert.isFalse(await isDone(waiting!))
    newer.finish()
    assert.isTrue(await isDone(waiting!))
  })

  test('drained resolves once every settle is stored or failed, including ones added meanwhile', async ({
    assert,
  }) => {
    const pending = new PendingSettles()
    const first = write()
    const second = write()
    pending.add(['a'], first.stored)
    const drained = pending.drained()
    pending.add(['b'], second.stored)
    first.finish()
    assert.isFalse(await isDone(drained), 'the settle added while draining is still on its way')
    second.fail(new Error('store unreachable'))
    assert.isTrue(await isDone(drained))
    assert.equal(pending.size, 0)
  })
})
