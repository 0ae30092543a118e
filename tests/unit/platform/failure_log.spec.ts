import { test } from '@japa/runner'
import { failureLog } from '#app/platform/failure_log'
import { captureLogLines } from '#tests/helpers/logs'

test.group('failure log', () => {
  test('one line for a run of failures in its window, the rest counted into the next', async ({
    assert,
    cleanup,
  }) => {
    const lines = captureLogLines(cleanup)
    let now = 0
    const log = failureLog({ failed: 'not stored', recovered: 'stored again', now: () => now })
    const error = new Error('Connection is closed.')
    log.failed(error, { generationId: 'g1' })
    for (let index = 0; index < 4; index++) {
      now += 2000
      log.failed(error, { generationId: 'g2' })
    }
    now = 10_000
    log.failed(error, { generationId: 'g3' })
    assert.deepEqual(
      lines.map(({ level, msg, failedSinceLastLine, generationId }) => [
        level,
        msg,
        failedSinceLastLine,
        generationId,
      ]),
      [
        ['warn', 'not stored', 0, 'g1'],
        ['warn', 'not stored', 4, 'g3'],
      ]
    )
    assert.strictEqual(lines[0].err, error)
  })

  test('the first success after failures says so once; the next failure is logged at once', async ({
    assert,
    cleanup,
  }) => {
    const lines = captureLogLines(cleanup)
    const log = failureLog({ failed: 'not stored', recovered: 'stored again', now: () => 0 })
    log.succeeded()
    assert.lengthOf(lines, 0, 'nothing to recover from')
    log.failed(new Error('down'))
    log.failed(new Error('down'))
    log.succeeded()
    log.succeeded()
    log.failed(new Error('down again'))
    assert.deepEqual(
      lines.map(({ level, msg, failedSinceLastLine }) => [level, msg, failedSinceLastLine]),
      [
        ['warn', 'not stored', 0],
        ['info', 'stored again', 1],
        ['warn', 'not stored', 0],
      ]
    )
  })
})
