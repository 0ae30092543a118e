import { test } from '@japa/runner'
import { EventWriter } from '#modules/chat/services/runner'
import type { GenerationEvent } from '#modules/chat/services/generation_log'
import { captureLogLines } from '#tests/helpers/logs'

/*
| A reply's events on their way to the stream log. When the log cannot take
| them (Redis away), every reply fails on every tick: the process says so
| once a window, with how many failed, and once more when the log is back
| (app/platform/failure_log.ts).
*/

test.group('chat event writer', () => {
  test('a failing log is one warning for the window, then one line when it stores again', async ({
    assert,
    cleanup,
  }) => {
    const lines = captureLogLines(cleanup)

    let failing = false
    const stored: Array<{ id: string; events: GenerationEvent[] }> = []
    const log = {
      async append(id: string, events: GenerationEvent[]) {
        if (failing) throw new Error('Connection is closed.')
        stored.push({ id, events })
      },
    }

    // One append that lands first: whatever an earlier test left, the log is healthy now.
    const first = new EventWriter('g0', 't1:u1', log)
    first.emit('message.created', {})
    await first.drain()
    lines.length = 0

    failing = true
    const writers = Array.from(
      { length: 5 },
      (_, index) => new EventWriter(`g${index + 1}`, 't1:u1', log)
    )
    for (const writer of writers) {
      for (let token = 0; token < 10; token++) writer.emit('delta', { text: 'w ' })
      writer.emit('usage', { promptTokens: 1, completionTokens: 10 })
    }
    await Promise.all(writers.map((writer) => writer.drain()))
    assert.deepEqual(
      lines.map((line) => [line.level, line.msg]),
      [['warn', 'chat stream: events not stored']]
    )
    assert.equal(lines[0].generationId, 'g1')

    failing = false
    writers[0].emit('done', { status: 'completed' })
    await writers[0].drain()
    assert.deepEqual(
      lines.map((line) => [line.level, line.msg]),
      [
        ['warn', 'chat stream: events not stored'],
        ['info', 'chat stream: events stored again'],
      ]
    )
    // Every writer failed at least twice (its first delta, then the rest with its usage).
    assert.isAtLeast(lines[1].failedSinceLastLine as number, 5 * 2 - 1)
    assert.deepEqual(
      stored.map((append) => append.id),
      ['g0', 'g1']
    )
  })

  test('a writer appends only while its reply is its own: unknown waits, taken ends it', async ({
    assert,
  }) => {
    const stored: GenerationEvent[] = []
    const log = {
      async append(_id: string, events: GenerationEvent[]) {
        stored.push(...events)
      },
    }
    let ownership: boolean | null = true
    const writer = new EventWriter('g1', 't1:u1', log, () =>
      ownership === null ? Promise.resolve(null) : ownership
    )
    writer.emit('message.created', {})
    await writer.drain()

    // PostgreSQL cannot say whether the lease holds: the events wait, in order.
    ownership = null
    writer.emit('delta', { text: 'a' })
    await writer.drain()
    assert.deepEqual(
      stored.map((event) => event.seq),
      [1]
    )
    ownership = true
    writer.emit('usage', { completionTokens: 1 })
    await writer.drain()
    assert.deepEqual(
      stored.map((event) => [event.seq, event.event]),
      [
        [1, 'message.created'],
        [2, 'delta'],
        [3, 'usage'],
      ]
    )

    // Taken by a sweep: what is gathered and all that follows is dropped.
    ownership = false
    writer.emit('delta', { text: 'b' })
    await writer.drain()
    ownership = true
    writer.emit('done', { status: 'completed' })
    await writer.drain()
    assert.lengthOf(stored, 3)
  })
})
