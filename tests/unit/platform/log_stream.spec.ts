import { test } from '@japa/runner'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { constants, openSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { boundedLogStream } from '#app/platform/log_stream'
import { APP_ROOT, childEnv, finished } from '#tests/helpers/processes'

/** A FIFO nobody reads, opened by this process for writing (and reading, so as not to block). */
async function stalledPipe(cleanup: (callback: () => Promise<void>) => void) {
  const folder = await mkdtemp(join(tmpdir(), 'atrium-log-stream-'))
  cleanup(() => rm(folder, { recursive: true, force: true }))
  const fifo = join(folder, 'stalled')
  execFileSync('mkfifo', [fifo])
  return openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK)
}

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
    // A pipe nobody reads. Its descriptor is ours, so the stream may close it: destroyed at the
    // end, the stream also leaves pino's exit hook, which would otherwise try to write what it holds.
    const fd = await stalledPipe(cleanup)

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

  test('a process whose reader stalled still exits, with its own code, once the flush stops moving', async ({
    assert,
    cleanup,
  }) => {
    // The child's stdout is the stalled pipe, non-blocking as a server's is once it has written
    // to process.stdout ("Atrium is up"). Before, pino's exit flush retried it forever.
    const fd = await stalledPipe(cleanup)
    const child = spawn(
      process.execPath,
      ['--import=@poppinss/ts-exec', 'tests/fixtures/log_stream_exit.ts'],
      { cwd: APP_ROOT, env: childEnv({ EXIT_STALL_MS: '200' }), stdio: ['ignore', fd, 'pipe'] }
    )
    const result = await finished(child, 30_000)
    assert.equal(result.code, 3, result.stderr)
  }).timeout(30_000)
})
