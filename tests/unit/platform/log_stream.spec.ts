import { test } from '@japa/runner'
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { constants, openSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { boundedLogStream } from '#app/platform/log_stream'

/**
 * The production log stream when its reader stalls (a log driver that stopped
 * reading): the lines beyond the bound are dropped — memory stays bounded and
 * nothing blocks — and stderr says so once.
 */
test.group('bounded log stream', () => {
  test('drops lines past its bound when nobody reads, and says so once', async ({
    assert,
    cleanup,
  }) => {
    // A pipe nobody reads: a FIFO opened for writing (and, so as not to block, reading) by this
    // process only. Its descriptor is ours, so the stream may close it: destroyed at the end, the
    // stream also leaves pino's exit hook, which would otherwise try to write what it holds.
    const folder = await mkdtemp(join(tmpdir(), 'atrium-log-stream-'))
    cleanup(() => rm(folder, { recursive: true, force: true }))
    const fifo = join(folder, 'stalled')
    execFileSync('mkfifo', [fifo])
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK)

    const warnings: string[] = []
    const write = process.stderr.write.bind(process.stderr)
    process.stderr.write = ((chunk: string) => {
      warnings.push(String(chunk))
      return true
    }) as typeof process.stderr.write
    cleanup(() => {
      process.stderr.write = write
    })

    const maxBytes = 256 * 1024
    const stream = boundedLogStream({ fd, maxBytes })
    cleanup(() => {
      // Its retry of the stalled write is still pending; after the close it meets EBADF, expected here.
      stream.on('error', () => {})
      stream.destroy()
    })
    const dropped = once(stream, 'drop')
    const line = `${JSON.stringify({ level: 30, msg: 'x'.repeat(1000) })}\n`
    // Four times the bound plus what the pipe itself holds (64 KiB on Linux).
    for (let index = 0; index < 1100; index++) stream.write(line)
    await dropped

    const buffered = (stream as unknown as { _len: number })._len
    assert.isAtMost(buffered, maxBytes)
    assert.deepEqual(
      warnings.filter((warning) => warning.includes('log lines are being dropped')),
      ['atrium: the log output is not keeping up; log lines are being dropped\n']
    )
  })
})
