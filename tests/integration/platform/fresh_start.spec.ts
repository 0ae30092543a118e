import { test } from '@japa/runner'
import pg from 'pg'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { childEnv, finished, startNode, waitForLine } from '#tests/helpers/processes'
import { EmbeddedPostgres } from '#app/platform/embedded_postgres'
import { embeddedDataRoot, portOpen } from '#tests/helpers/embedded'

const PORT = 3391
const PG_PORT = 29391

/** How the server's pool is connected to its `atrium` database, seen from the server's side. */
async function appConnectionsByTransport() {
  const probe = new pg.Client({
    connectionString: `postgres://postgres@127.0.0.1:${PG_PORT}/postgres`,
  })
  await probe.connect()
  try {
    const { rows } = await probe.query(
      `SELECT bool_or(client_addr IS NULL) AS socket, bool_or(client_addr IS NOT NULL) AS tcp
         FROM pg_stat_activity WHERE datname = 'atrium' AND backend_type = 'client backend'`
    )
    return { socket: rows[0].socket === true, tcp: rows[0].tcp === true }
  } finally {
    await probe.end()
  }
}

/**
 * What `npm start` does on a machine with nothing running: no DATABASE_URL, so
 * an embedded PostgreSQL starts, migrations run, the API serves; SIGINT stops
 * the server and then the database; a second start reuses the data.
 */
test.group('fresh start with the embedded database', (group) => {
  let dataRoot: string
  group.setup(async () => {
    const folder = await embeddedDataRoot('atrium-embedded-', PG_PORT)
    dataRoot = folder.root
    return () => folder.cleanup()
  })

  test('serves, answers ready, and stops cleanly on SIGINT; a restart reuses the data', async ({
    assert,
    client,
    cleanup,
  }) => {
    const env = childEnv({
      DATABASE_URL: undefined,
      NODE_ENV: 'development',
      // The test process carries .env.test's MIGRATE_ON_START=false; a real first start migrates.
      MIGRATE_ON_START: 'true',
      PORT: String(PORT),
      HOST: '127.0.0.1',
      EMBEDDED_PG_PORT: String(PG_PORT),
      EMBEDDED_PG_DATA: join(dataRoot, 'data'),
    })

    for (const run of ['first', 'second']) {
      const server = startNode(['bin/server.ts'], env)
      cleanup(() => {
        server.kill('SIGKILL')
      })
      const done = finished(server, 90_000)
      // Both waiters start now: the two lines can arrive in one chunk.
      const seedSeen = waitForLine(server, /First start/, 60_000).catch(() => null)
      const line = await waitForLine(server, /Atrium is up/, 60_000)
      const seedLine = Promise.race([
        seedSeen,
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 1000)),
      ])
      assert.include(line, `embedded PostgreSQL`)
      assert.include(line, `127.0.0.1:${PG_PORT}/atrium`)
      assert.include(line, `http://127.0.0.1:${PORT}/docs`)

      const ready = await client.get(`http://127.0.0.1:${PORT}/health/ready`)
      ready.assertStatus(200)

      // The first start seeds a demo owner and prints the password once; later starts do not.
      const seeded = await seedLine
      if (run === 'first') {
        const [, email, password] = /Log in as (\S+) with password (\S+)/.exec(seeded ?? '') ?? []
        assert.isString(password, `no credentials printed:\n${seeded}`)
        const login = await client
          .post(`http://127.0.0.1:${PORT}/api/v1/auth/login`)
          .json({ email, password })
        login.assertStatus(200)
        assert.sameMembers(login.body().roles, ['owner', 'superadmin'])
      } else {
        assert.isNull(seeded, 'credentials were printed again')
      }
      const migrated = await client.get(`http://127.0.0.1:${PORT}/api/v1/system/ping`)
      migrated.assertStatus(200)
      // The app reaches its embedded database through the Unix socket in the data folder.
      assert.deepEqual(await appConnectionsByTransport(), { socket: true, tcp: false })

      server.kill('SIGINT')
      const result = await done
      assert.equal(result.code, 0, `${run} run exited badly:\n${result.stderr}`)
      // Stopping says one thing, last: what stopped and how long draining took.
      const lines = result.stdout.trimEnd().split('\n')
      assert.lengthOf(
        lines.filter((text) => text.startsWith('Atrium stopped')),
        1,
        result.stdout
      )
      assert.match(
        lines.at(-1)!,
        /^Atrium stopped \(SIGINT\) · requests drained and the embedded PostgreSQL in \d+ ms$/
      )
      assert.isFalse(await portOpen(PORT), 'HTTP port still open')
      assert.isFalse(await portOpen(PG_PORT), 'embedded PostgreSQL still running')
    }
    const version = await stat(join(dataRoot, 'data', 'PG_VERSION'))
    assert.isTrue(version.isFile())
  }).timeout(180_000)

  test('the database going away makes /health/ready answer 503; shutdown still completes', async ({
    assert,
    client,
    cleanup,
  }) => {
    const dataDir = join(dataRoot, 'data')
    const server = startNode(
      ['bin/server.ts'],
      childEnv({
        DATABASE_URL: undefined,
        NODE_ENV: 'development',
        MIGRATE_ON_START: 'true',
        PORT: String(PORT),
        HOST: '127.0.0.1',
        EMBEDDED_PG_PORT: String(PG_PORT),
        EMBEDDED_PG_DATA: dataDir,
      })
    )
    cleanup(() => {
      server.kill('SIGKILL')
    })
    const done = finished(server, 90_000)
    await waitForLine(server, /Atrium is up/, 60_000)
    const before = await client.get(`http://127.0.0.1:${PORT}/health/ready`)
    before.assertStatus(200)

    await new EmbeddedPostgres({ dataDir, port: PG_PORT }).stopServer()

    const ready = await client.get(`http://127.0.0.1:${PORT}/health/ready`)
    ready.assertStatus(503)
    assert.equal(ready.body().status, 'error')
    assert.equal(ready.body().checks[0].status, 'error')
    const live = await client.get(`http://127.0.0.1:${PORT}/health/live`)
    live.assertStatus(200)

    server.kill('SIGINT')
    const result = await done
    assert.equal(result.code, 0, `signal ${result.signal}; stderr:\n${result.stderr}`)
  }).timeout(180_000)
})
