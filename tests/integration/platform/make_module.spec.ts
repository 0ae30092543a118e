import { test } from '@japa/runner'
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { stripVTControlCharacters } from 'node:util'
import pg from 'pg'
import { APP_ROOT, childEnv, runNode } from '#tests/helpers/processes'

const SKIP = new Set(['node_modules', 'storage', 'tmp', 'build', '.git', '.adonisjs'])

/**
 * `node ace make:module` in a copy of this checkout: the module it writes
 * must pass lint, typecheck and its own functional test as generated, and
 * mount (routes documented, boundary rules kept) without a manual step.
 */
test.group('make:module', () => {
  test('generates a module that is lint-clean, typechecks and passes its tests', async ({
    assert,
    cleanup,
  }) => {
    const scratch = await mkdtemp(join(tmpdir(), 'atrium-make-module-'))
    cleanup(() => rm(scratch, { recursive: true, force: true }))
    const copy = join(scratch, 'atrium')
    await cp(APP_ROOT, copy, {
      recursive: true,
      filter: (source) => !SKIP.has(relative(APP_ROOT, source).split('/')[0]),
    })
    await symlink(join(APP_ROOT, 'node_modules'), join(copy, 'node_modules'))
    const run = (args: string[], env: Record<string, string | undefined> = {}) =>
      runNode(args, childEnv({ NODE_ENV: undefined, ...env }), { cwd: copy, timeoutMs: 240_000 })

    const generated = await run(['ace.js', 'make:module', 'helpdesk', '--resource', 'ticket'])
    assert.equal(generated.code, 0, generated.stderr + generated.stdout)
    const names = await readFile(join(copy, 'start/module_names.ts'), 'utf8')
    assert.include(names, "'helpdesk'")
    const example = await readFile(join(copy, '.env.example'), 'utf8')
    assert.include(example, '# HELPDESK_MAX_TICKETS_PER_TENANT=10000')

    const bin = (name: string) => join(APP_ROOT, 'node_modules', name)
    const lint = await run([
      bin('eslint/bin/eslint.js'),
      'modules/helpdesk',
      'tests/functional/helpdesk',
      'start',
    ])
    assert.equal(lint.code, 0, lint.stdout + lint.stderr)
    const boundaries = await run([
      bin('dependency-cruiser/bin/dependency-cruise.mjs'),
      'modules',
      'start',
      '--config',
      '.dependency-cruiser.cjs',
    ])
    assert.equal(boundaries.code, 0, boundaries.stdout + boundaries.stderr)
    const typecheck = await run([bin('typescript/bin/tsc'), '--noEmit'])
    assert.equal(typecheck.code, 0, typecheck.stdout + typecheck.stderr)

    // Its own database, so the generated migration never lands in this run's.
    const url = new URL(process.env.DATABASE_URL!)
    url.pathname = '/atrium_gen'
    const dropTestDatabase = async () => {
      const admin = new URL(url)
      admin.pathname = '/postgres'
      const client = new pg.Client({ connectionString: admin.toString() })
      await client.connect()
      await client.query('DROP DATABASE IF EXISTS atrium_gen_test WITH (FORCE)')
      await client.end()
    }
    await dropTestDatabase()
    cleanup(dropTestDatabase)
    const tests = await run(
      [
        'ace.js',
        'test',
        '--files',
        'tests/functional/helpdesk/tickets.spec.ts',
        '--files',
        'tests/functional/platform/openapi.spec.ts',
      ],
      { DATABASE_URL: url.toString() }
    )
    const output = stripVTControlCharacters(tests.stdout)
    assert.equal(tests.code, 0, output + tests.stderr)
    assert.match(output, /Tests\s+\d+ passed/)
    assert.notMatch(output, /\d+ failed/)
    // The generated module's own tests ran and passed, not only the OpenAPI walk.
    for (const title of [
      'create, list, show, update and delete, each answer as documented',
      'bad input is a 422 and changes nothing',
      'members may not delete; another tenant sees a 404',
    ]) {
      assert.include(output, `✔ ${title}`)
    }

    // Its setting is validated at boot with everyone else's (modules/helpdesk/env.ts).
    const badSetting = await run(['bin/server.ts'], {
      HELPDESK_MAX_TICKETS_PER_TENANT: 'lots',
      PORT: '0',
    })
    assert.equal(badSetting.code, 1, badSetting.stdout)
    assert.match(
      badSetting.stderr,
      /atrium: invalid configuration: HELPDESK_MAX_TICKETS_PER_TENANT must be a whole number of at least 1/
    )
  }).timeout(600_000)
})
