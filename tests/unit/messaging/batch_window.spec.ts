import { test } from '@japa/runner'
import { BatchWindow, WorkLoop, type EventsPass } from '#app/messaging/worker'

const window = new BatchWindow({ handledMs: 5, relayedMs: 10, below: 20 })

/** A pass of a stream: two events relayed and handled here, more published while it ran. */
const streaming: EventsPass = { relayed: 2, handled: 2, full: false, arrivedDuringPass: true }

test.group('batch window', () => {
  test('while events stream, the next pass waits for its batch to gather', ({ assert }) => {
    assert.equal(window.beforeNextPass(streaming), 5)
    assert.equal(window.beforeNextPass({ ...streaming, relayed: 19, handled: 19 }), 5)
  })

  test('a batch of 20 or more goes round at once: the pass carries its cost, or the worker falls behind', ({
    assert,
  }) => {
    assert.equal(window.beforeNextPass({ ...streaming, relayed: 20, handled: 20 }), 0)
    assert.equal(window.beforeNextPass({ ...streaming, relayed: 60, handled: 0 }), 0)
  })

  test('a pass that only relayed (a broker, subscribers elsewhere) gathers longer', ({
    assert,
  }) => {
    assert.equal(window.beforeNextPass({ ...streaming, handled: 0 }), 10)
  })

  test('nothing published while the pass ran: no wait, the loop sleeps until nudged', ({
    assert,
  }) => {
    assert.equal(window.beforeNextPass({ ...streaming, arrivedDuringPass: false }), 0)
  })

  test('one event a pass — a trickle, or a lone saga whose handler publishes its next step — goes at once', ({
    assert,
  }) => {
    assert.equal(window.beforeNextPass({ ...streaming, relayed: 1, handled: 1 }), 0)
    // A pass that only handled retries or claimed deliveries relayed nothing.
    assert.equal(window.beforeNextPass({ ...streaming, relayed: 0, handled: 30 }), 0)
  })

  test('a full batch goes round at once: there is a backlog to drain', ({ assert }) => {
    assert.equal(window.beforeNextPass({ ...streaming, relayed: 100, full: true }), 0)
  })
})

test.group('work loop', () => {
  test('tells a pass whether work was announced while it ran, and forgets it for the next', async ({
    assert,
  }) => {
    const seen: boolean[] = []
    let running = true
    let finish: () => void
    const finished = new Promise<void>((resolve) => (finish = resolve))
    const loop: WorkLoop = new WorkLoop('test', async () => {
      // The first pass hears of work while it runs (an event committed meanwhile), the second does not.
      if (seen.length === 0) loop.nudge()
      seen.push(loop.nudgedDuringPass)
      if (seen.length === 2) {
        running = false
        finish()
      }
      return false
    })
    loop.start(() => running, { pollIntervalMs: 60_000, idleCeilingMs: 60_000, heard: () => true })
    await finished
    await loop.finished()
    // The nudge during the first pass brought the second at once, not after the 60 s poll.
    assert.deepEqual(seen, [true, false])
  })
})
