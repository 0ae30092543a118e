import { test } from '@japa/runner'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { dotEnvFrom, ensureDotEnv } from '#app/platform/dotenv'

const EXAMPLE = [
  '# HTTP',
  'PORT=3333',
  'HOST=0.0.0.0',
  'NODE_ENV=development',
  'APP_KEY=',
  'EMBEDDED_PG_PORT=25432',
  'DATABASE_URL=',
  'REDIS_URL=',
  'OPENAI_API_KEY=',
  'METRICS_TOKEN=',
  '# SMTP_PASSWORD=',
  '# WEBHOOK_MAX_ATTEMPTS=8',
  '',
].join('\n')

test.group('.env on the first start', () => {
  test('keeps the settings in effect, so the next start finds the same port and database', ({
    assert,
  }) => {
    const written = dotEnvFrom(EXAMPLE, {
      PORT: '4000',
      EMBEDDED_PG_PORT: '29999',
      NODE_ENV: 'test',
    })
    assert.include(written, '\nPORT=4000\n')
    assert.include(written, '\nEMBEDDED_PG_PORT=29999\n')
    assert.include(written, '\nHOST=0.0.0.0\n', 'what was not given keeps its example value')
    assert.include(written, '\nNODE_ENV=development\n', 'the process mode is not a setting')
    assert.match(written, /\nAPP_KEY=[\w-]{43}\n/)
  })

  test('copies no connection URL, secret or other setting from the shell', ({ assert }) => {
    const written = dotEnvFrom(EXAMPLE, {
      REDIS_URL: 'redis://127.0.0.1:6379',
      WEBHOOK_MAX_ATTEMPTS: '3',
      OPENAI_API_KEY: 'sk-live-secret',
      METRICS_TOKEN: 'operator-secret',
      SMTP_PASSWORD: 'mail-secret',
      DATABASE_URL: 'postgres://app:db-secret@db.internal:5432/atrium',
      APP_KEY: 'given-key-not-written',
    })
    for (const secret of [
      'sk-live-secret',
      'operator-secret',
      'mail-secret',
      'db-secret',
      'given-key',
    ]) {
      assert.notInclude(written, secret)
    }
    assert.include(written, '\nOPENAI_API_KEY=\n')
  })

  test('values that need quoting are quoted', ({ assert }) => {
    assert.include(dotEnvFrom('HOST=\n', { HOST: 'a b#c' }), 'HOST="a b#c"')
  })

  test('writes .env once, and never over an existing one', async ({ assert, cleanup }) => {
    const folder = await mkdtemp(join(tmpdir(), 'atrium-dotenv-'))
    cleanup(() => rm(folder, { recursive: true, force: true }))
    await writeFile(join(folder, '.env.example'), EXAMPLE)
    const root = pathToFileURL(`${folder}/`)
    assert.isTrue(await ensureDotEnv(root, { PORT: '4000' }))
    const first = await readFile(join(folder, '.env'), 'utf8')
    assert.include(first, '\nPORT=4000\n')
    assert.isFalse(await ensureDotEnv(root, { PORT: '5000' }))
    assert.equal(await readFile(join(folder, '.env'), 'utf8'), first)
  })

  test('production gets no .env: its APP_KEY must be given', async ({ assert, cleanup }) => {
    const folder = await mkdtemp(join(tmpdir(), 'atrium-dotenv-'))
    cleanup(() => rm(folder, { recursive: true, force: true }))
    await writeFile(join(folder, '.env.example'), EXAMPLE)
    assert.isFalse(await ensureDotEnv(pathToFileURL(`${folder}/`), { NODE_ENV: 'production' }))
  })
})
