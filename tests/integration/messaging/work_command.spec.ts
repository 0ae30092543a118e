import { test } from '@japa/runner'
import { childEnv, finished, startNode, waitForLine } from '#tests/helpers/processes'

test.group('node ace atrium:work', () => {
  test('runs until SIGINT, then stops cleanly', async ({ assert, cleanup }) => {
    const worker = startNode(['ace.js', 'atrium:work'], childEnv({}))
    cleanup(() => {
      worker.kill('SIGKILL')
    })
    const done = finished(worker, 60_000)
    await waitForLine(worker, /atrium:work running/)
    worker.kill('SIGINT')
    const result = await done
    assert.equal(result.code, 0, `signal ${result.signal}\n${result.stdout}\n${result.stderr}`)
    assert.include(result.stdout, 'atrium:work stopped')
  }).timeout(90_000)
})
