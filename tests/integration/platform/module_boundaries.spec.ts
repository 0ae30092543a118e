import { test } from '@japa/runner'
import { join } from 'node:path'
import { APP_ROOT, runNode, childEnv } from '#tests/helpers/processes'

interface Violation {
  from: string
  to: string
  rule: { name: string }
}

/**
 * The fixture tree under tests/fixtures/lint has one deep import into another
 * module, one import through a module's index.ts, one kernel → module import,
 * a controller that opens a unit of work and imports the database, and a thin
 * one. The rules (the same config `npm run lint` uses) must flag exactly the
 * bad ones.
 */
test.group('module boundary lint rule', () => {
  test('flags deep imports, kernel → module imports and controllers doing SQL, nothing else', async ({
    assert,
  }) => {
    const cli = join(APP_ROOT, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs')
    const config = join(APP_ROOT, '.dependency-cruiser.cjs')
    const result = await runNode(
      [cli, 'modules', 'app', '--config', config, '--output-type', 'json'],
      childEnv({}),
      {
        cwd: join(APP_ROOT, 'tests/fixtures/lint'),
        timeoutMs: 60_000,
      }
    )
    const report = JSON.parse(result.stdout) as { summary: { violations: Violation[] } }
    const found = report.summary.violations.map(
      (violation) => `${violation.rule.name}: ${violation.from} → ${violation.to}`
    )
    assert.sameMembers(
      found.map((line) => line.replace(/(\.\.\/)+/g, '')),
      [
        'module-boundary: modules/alpha/deep_import.ts → modules/beta/services/pricing.ts',
        'kernel-independent-of-modules: app/kernel.ts → modules/beta/index.ts',
        'thin-controllers: modules/alpha/controllers/sql_controller.ts → app/tenancy/tenancy.ts',
        'thin-controllers: modules/alpha/controllers/sql_controller.ts → node_modules/@adonisjs/lucid/build/services/db.js',
      ]
    )
  })
})
