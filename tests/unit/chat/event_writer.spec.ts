import { test } from '@japa/runner'
import logger from '@adonisjs/core/services/logger'
import { EventWriter } from '#modules/chat/services/runner'
import type { GenerationEvent } from '#modules/chat/services/generation_log'

/*
| A reply's events on their way to the stream log. When the log cannot take
| them (Redis away), every reply fails on every tick: the process says so
| once a window, with how many failed, and once more when the log is back
| (app/platform/failure_log.ts).
*/

interface Line {
  level: 'warn' | 'info'
  msg: string
  failedSinceLastLine?: number
  generationId?: string
}

test.group('chat event writer', () => {
  test('a failing log is one warning for the window, then one line when it stores again', async ({
    assert,
    cleanup,
  }) => {
    const lines: Line[] = []
    const { warn, info } = logger
    logger.warn = ((fields: object, msg: string) => {
      lines.push({ level: 'warn', msg, ...fields })
    }) as typeof logger.warn
    logger.info = ((fields: object, msg: string) => {
      lines.push({ level: 'info', msg, ...fields })
    }) as typeof logger.info
    cleanup(() => {
      logger.warn = warn
      logger.info = info
    })

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
    assert.isAtLeast(lines[1].failedSinceLastLine!, 5 * 2 - 1)
    assert.deepEqual(
      stored.map((append) => append.id),
      ['g0', 'g1']
    )
  })
})
