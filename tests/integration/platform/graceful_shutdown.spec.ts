import { test } from '@japa/runner'
import { childEnv, finished, startNode, waitForLine } from '#tests/helpers/processes'
import { embeddedDataRoot, portOpen } from '#tests/helpers/embedded'
import pg from 'pg'
import { until } from '#tests/helpers/waiting'

const PORT = 3392
const PG_PORT = 29392

/**
 * Ctrl-C while a request is still using the database: the server stops
 * accepting at once, the request finishes (so the embedded PostgreSQL must
 * still be up), and only then does the database stop and the process exit 0.
 */
/** Whether the fixture's pg_sleep query is running on the embedded database. */
async function sleepingQueryRuns() {
  const probe = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${PG_PORT}/postgres`,
  })
  try {
    await probe.connect()
    const { rows } = await probe.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep%'`
    )
    return rows[0].n > 0
  } catch {
    return false
  } finally {
    await probe.end().catch(() => {})
  }
}

test.group('graceful shutdown', (group) => {
  let dataDir: string
  group.setup(async () => {
    const folder = await embeddedDataRoot('atrium-shutdown-', PG_PORT)
    dataDir = folder.dataDir
    return () => folder.cleanup()
  })

  test('an in-flight database request completes after SIGINT; then the database stops', async ({
    assert,
    cleanup,
  }) => {
    const server = startNode(
      ['tests/fixtures/server.ts'],
      childEnv({
        DATABASE_URL: undefined,
        PORT: String(PORT),
        HOST: '127.0.0.1',
        EMBEDDED_PG_PORT: String(PG_PORT),
        EMBEDDED_PG_DATA: dataDir,
      })
    )
    cleanup(() => {
      server.kill('SIGKILL')
    })
    const done = finished(server, 60_000)
    await waitForLine(server, /Atrium is up/)

    const inFlight = fetch(`http://127.0.0.1:${PORT}/api/v1/__fixtures/slow-db?seconds=1.5`)
    // The request is inside its query when the signal comes.
    assert.isTrue(await until(sleepingQueryRuns, 10_000), 'the slow request never started')
    server.kill('SIGINT')

    assert.isTrue(
      await until(async () => !(await portOpen(PORT)), 1000),
      'still accepting new connections after SIGINT'
    )
    assert.isTrue(await sleepingQueryRuns(), 'the in-flight query was cut')
    assert.isTrue(await portOpen(PG_PORT), 'the database stopped while a request was using it')

    const response = await inFlight
    assert.equal(response.status, 200)
    assert.deepEqual(await response.json(), { ok: true })

    const result = await done
    assert.equal(result.code, 0, result.stderr)
    assert.isFalse(await portOpen(PG_PORT), 'the embedded database outlived the process')
  }).timeout(90_000)
})
