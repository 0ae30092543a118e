import { test } from '@japa/runner'
import net from 'node:net'
import db from '@adonisjs/lucid/services/db'
import { childEnv, runNode } from '#tests/helpers/processes'

/** Each bad value must stop boot with exactly one line that names the variable, and no stack trace. */
const BAD_VALUES: Array<[string, string, RegExp, Record<string, string | undefined>?]> = [
  ['DATABASE_URL', 'nope', /DATABASE_URL must be a postgres:\/\/ URL/],
  ['DATABASE_URL', 'mysql://root:s3cr3t-pw@db/atrium', /DATABASE_URL must be a postgres:\/\/ URL/],
  ['PORT', 'eighty', /PORT/],
  ['REDIS_URL', 'http://127.0.0.1:6379', /REDIS_URL must be a redis:\/\/ URL/],
  [
    'KAFKA_BROKERS',
    'broker-without-port',
    /KAFKA_BROKERS must be a comma-separated list of host:port/,
  ],
  ['AMQP_URL', 'rabbit', /AMQP_URL must be an amqp:\/\/ URL/],
  ['OLLAMA_HOST', 'ftp://ollama', /OLLAMA_HOST must be an http\(s\):\/\/ URL/],
  [
    'PLATFORM_PROVIDER_TENANTS',
    'acme, 0193a0e0-0000-7000-8000-000000000001',
    /PLATFORM_PROVIDER_TENANTS must be tenant ids \(uuids\), comma-separated/,
  ],
  ['ATRIUM_ROLE', 'boss', /ATRIUM_ROLE/],
  [
    'BUS_TRANSPORT',
    'carrier-pigeon',
    /BUS_TRANSPORT must be one of local, bullmq, rabbitmq, kafka/,
  ],
  [
    'BUS_TRANSPORT',
    'kafka',
    /BUS_TRANSPORT=kafka needs KAFKA_BROKERS/,
    { KAFKA_BROKERS: undefined },
  ],
  ['BULLMQ_PREFIX', 'bad prefix!', /BULLMQ_PREFIX may only hold letters/],
  ['DB_LOCK_TIMEOUT_MS', '-1', /DB_LOCK_TIMEOUT_MS must be a whole number of milliseconds/],
  ['DB_STATEMENT_TIMEOUT_MS', '30s', /DB_STATEMENT_TIMEOUT_MS must be a whole number/],
  ['LOG_LEVEL', 'loud', /LOG_LEVEL/],
  [
    'HTTP_REQUEST_TIMEOUT_SECONDS',
    '0',
    /HTTP_REQUEST_TIMEOUT_SECONDS must be a whole number of at least 1 \(got "0"\)/,
  ],
  ['WEBHOOK_MAX_ATTEMPTS', '2.5', /WEBHOOK_MAX_ATTEMPTS must be a whole number of at least 1/],
  ['SMTP_PORT', '70000', /SMTP_PORT must be a whole number from 1 to 65535/],
  // A module's own variables (modules/chat/env.ts), validated with the platform's.
  [
    'CHAT_MAX_CONCURRENT_GENERATIONS',
    'lots',
    /CHAT_MAX_CONCURRENT_GENERATIONS must be a whole number of at least 1 \(got "lots"\)/,
  ],
  ['CHAT_DELTA_FLUSH_MS', '-5', /CHAT_DELTA_FLUSH_MS must be a whole number from 0 to 10000/],
  ['CHAT_TOKENS_PER_DAY', '1e6', /CHAT_TOKENS_PER_DAY must be a whole number of at least 0/],
  ['ATRIUM_MODULES', 'orders;identity', /ATRIUM_MODULES has invalid module names/],
  ['ATRIUM_MODULES', 'system,nosuchmodule', /ATRIUM_MODULES names unknown modules: nosuchmodule/],
]

test.group('configuration validation at boot', () => {
  for (const [name, value, expected, alsoSet = {}] of BAD_VALUES) {
    test(`${name}=${value} stops boot with one clear line`, async ({ assert }) => {
      const result = await runNode(
        ['bin/server.ts'],
        childEnv({ ...alsoSet, [name]: value, PORT: name === 'PORT' ? value : '0' })
      )
      assert.equal(result.code, 1)
      const lines = result.stderr
        .split('\n')
        .filter((line) => line.trim() && !line.includes('ExperimentalWarning'))
      assert.lengthOf(lines, 1, `expected one line, got:\n${result.stderr}`)
      assert.match(lines[0], /^atrium: invalid configuration: /)
      assert.match(lines[0], expected)
      assert.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
      assert.notInclude(result.stderr, 's3cr3t-pw', 'credentials are redacted')
      assert.notInclude(result.stdout, 'Atrium is up')
    })
  }
})

test.group('start-up failures outside the configuration', () => {
  const oneLine = (stderr: string) =>
    stderr.split('\n').filter((line) => line.trim() && !line.includes('ExperimentalWarning'))

  test('an unreachable DATABASE_URL stops start-up with one line naming it, no password', async ({
    assert,
  }) => {
    const result = await runNode(
      ['bin/server.ts'],
      childEnv({ DATABASE_URL: 'postgres://postgres:s3cr3t-pw@127.0.0.1:1/atrium', PORT: '0' })
    )
    assert.equal(result.code, 1)
    const lines = oneLine(result.stderr)
    assert.lengthOf(lines, 1, `expected one line, got:\n${result.stderr}`)
    assert.match(lines[0], /^atrium: cannot reach the database: DATABASE_URL \(127\.0\.0\.1:1\//)
    assert.match(lines[0], /refused/)
    assert.notInclude(result.stderr, 's3cr3t-pw')
    assert.notMatch(result.stderr, /\n\s+at /, 'no stack trace')
  })

  test('a port in use stops start-up with one line naming PORT', async ({ assert, cleanup }) => {
    const taken = net.createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    cleanup(() => new Promise<void>((resolve) => taken.close(() => resolve())))
    const { port } = taken.address() as net.AddressInfo
    const result = await runNode(
      ['bin/server.ts'],
      childEnv({ PORT: String(port), HOST: '127.0.0.1', ATRIUM_ROLE: 'web' })
    )
    assert.equal(result.code, 1)
    const lines = oneLine(result.stderr)
    assert.lengthOf(lines, 1, `expected one line, got:\n${result.stderr}`)
    assert.equal(
      lines[0],
      `atrium: cannot listen on 127.0.0.1:${port}: the address is in use (set PORT or HOST)`
    )
    assert.notInclude(result.stdout, 'Atrium is up')
  })

  test('a migration that fails stops start-up with its error printed, not in silence', async ({
    assert,
    cleanup,
  }) => {
    // A database where the first identity migration cannot run: its table is already there.
    const broken = 'atrium_test_broken_start'
    await db.rawQuery(`DROP DATABASE IF EXISTS ${broken}`)
    await db.rawQuery(`CREATE DATABASE ${broken}`)
    cleanup(() => db.rawQuery(`DROP DATABASE IF EXISTS ${broken} WITH (FORCE)`))
    const url = new URL(process.env.DATABASE_URL!)
    url.pathname = `/${broken}`
    const { default: pg } = await import('pg')
    const setup = new pg.Client({ connectionString: url.href })
    await setup.connect()
    await setup.query('CREATE TABLE identity_users (x int)')
    await setup.end()

    const result = await runNode(
      ['bin/server.ts'],
      childEnv({ DATABASE_URL: url.href, MIGRATE_ON_START: 'true', PORT: '0', ATRIUM_ROLE: 'web' })
    )
    assert.equal(result.code, 1)
    // Before: the catch did not await the (asynchronous) printer before exiting, and said nothing.
    assert.include(`${result.stdout}${result.stderr}`, 'relation "identity_users" already exists')
    assert.notInclude(result.stdout, 'Atrium is up')
  })
})
