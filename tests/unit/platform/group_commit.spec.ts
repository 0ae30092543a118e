import { test } from '@japa/runner'
import { groupCall, groupCommit } from '#app/platform/group_commit'

/** A write that records each batch and finishes when the test says so. */
function controlledWrite() {
  const batches: Array<Record<string, number>> = []
  const pending: Array<{ finish: () => void; fail: (error: Error) => void }> = []
  const write = (deltas: Map<string, number>) =>
    new Promise<void>((resolve, reject) => {
      batches.push(Object.fromEntries(deltas))
      pending.push({ finish: resolve, fail: reject })
    })
  const settled = async () => {
    // Lets queued promise callbacks run, so the next batch (if any) has started.
    for (let turn = 0; turn < 5; turn++) await Promise.resolve()
  }
  return { write, batches, pending, settled }
}

test.group('groupCommit', () => {
  test('a lone change is written at once, and its call resolves when stored', async ({
    assert,
  }) => {
    const { write, batches, pending, settled } = controlledWrite()
    const add = groupCommit(write)
    let done = false
    const call = add([{ key: 'a', delta: 3 }]).then(() => (done = true))
    await settled()
    assert.deepEqual(batches, [{ a: 3 }])
    assert.isFalse(done, 'resolved before the write finished')
    pending[0].finish()
    await call
    assert.isTrue(done)
  })

  test('changes made while a write is in flight are summed into one next write', async ({
    assert,
  }) => {
    const { write, batches, pending, settled } = controlledWrite()
    const add = groupCommit(write)
    const first = add([{ key: 'a', delta: 1 }])
    await settled()
    const waiting = Array.from({ length: 100 }, (_, index) =>
      add([
        { key: 'a', delta: 1 },
        { key: index % 2 ? 'b' : 'c', delta: -2 },
      ])
    )
    await settled()
    assert.lengthOf(batches, 1, 'the second batch must wait for the first write')
    pending[0].finish()
    await first
    await settled()
    assert.deepEqual(batches, [{ a: 1 }, { a: 100, b: -100, c: -100 }])
    pending[1].finish()
    await Promise.all(waiting)
  })

  test('a failed write rejects exactly its own callers; the next batch still goes', async ({
    assert,
  }) => {
    const { write, batches, pending, settled } = controlledWrite()
    const add = groupCommit(write)
    const failing = add([{ key: 'a', delta: 1 }])
    await settled()
    const next = add([{ key: 'a', delta: 5 }])
    pending[0].fail(new Error('database went away'))
    await assert.rejects(() => failing, 'database went away')
    await settled()
    assert.deepEqual(batches, [{ a: 1 }, { a: 5 }])
    pending[1].finish()
    await next
  })
})

test.group('groupCall', () => {
  /** A run that records each batch and answers when the test says so. */
  function controlledRun() {
    const batches: number[][] = []
    const pending: Array<{ answer: () => void; fail: (error: Error) => void }> = []
    const run = (inputs: number[]) =>
      new Promise<string[]>((resolve, reject) => {
        batches.push([...inputs])
        pending.push({ answer: () => resolve(inputs.map((input) => `#${input}`)), fail: reject })
      })
    const settled = async () => {
      for (let turn = 0; turn < 5; turn++) await Promise.resolve()
    }
    return { run, batches, pending, settled }
  }

  test('a lone call runs at once; calls made meanwhile run together next, each with its own answer', async ({
    assert,
  }) => {
    const { run, batches, pending, settled } = controlledRun()
    const call = groupCall(run)
    const first = call(0)
    await settled()
    assert.deepEqual(batches, [[0]])
    const waiting = Array.from({ length: 50 }, (_, index) => call(index + 1))
    await settled()
    assert.lengthOf(batches, 1, 'the second batch must wait for the first run')
    pending[0].answer()
    assert.equal(await first, '#0')
    await settled()
    assert.deepEqual(
      batches[1],
      Array.from({ length: 50 }, (_, index) => index + 1)
    )
    pending[1].answer()
    assert.deepEqual(
      await Promise.all(waiting),
      Array.from({ length: 50 }, (_, index) => `#${index + 1}`)
    )
  })

  test('a failed run rejects its own batch only; the next batch still runs', async ({ assert }) => {
    const { run, batches, pending, settled } = controlledRun()
    const call = groupCall(run)
    const failing = call(1)
    await settled()
    const next = call(2)
    pending[0].fail(new Error('database gone'))
    await assert.rejects(() => failing, 'database gone')
    await settled()
    assert.deepEqual(batches, [[1], [2]])
    pending[1].answer()
    assert.equal(await next, '#2')
  })
})
