import { test } from '@japa/runner'
import { childEnv, finished, startNode, waitForLine } from '#tests/helpers/processes'

/**
 * In production the logs are JSON lines on stdout, written from the main
 * thread (config/logger.ts: no transport worker). Written asynchronously, so
 * what matters is that nothing is lost at the end: the record logged while
 * the process stops must be out before it exits.
 */
test.group('production logs', () => {
  test('are JSON lines on stdout, through to the record written while stopping', async ({
    assert,
    cleanup,
  }) => {
    const server = startNode(
      ['bin/server.ts'],
      childEnv({ NODE_ENV: 'production', LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1' })
    )
    cleanup(() => {
      server.kill('SIGKILL')
    })
    const done = finished(server, 60_000)
    await waitForLine(server, /Atrium is up/)
    server.kill('SIGTERM')
    const result = await done

    assert.equal(result.code, 0, result.stderr)
    const records = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
    const started = records.find((record) => String(record.msg).startsWith('started HTTP server'))
    assert.exists(started, result.stdout)
    assert.equal(started!.level, 30)
    assert.equal(started!.name, 'atrium')
    const stopped = records.find((record) => record.msg === 'stopped')
    assert.exists(stopped, `the last record was lost:\n${result.stdout}`)
    assert.equal(stopped!.signal, 'SIGTERM')
    assert.isNumber(stopped!.drainedMs)
    assert.isBelow(records.indexOf(started!), records.indexOf(stopped!))
    // The record is out before the line a person reads, which stays the last.
    const lines = result.stdout.trimEnd().split('\n')
    assert.match(lines.at(-1)!, /^Atrium stopped \(SIGTERM\)/)
    assert.equal(JSON.parse(lines.at(-2)!).msg, 'stopped')
  })
})
