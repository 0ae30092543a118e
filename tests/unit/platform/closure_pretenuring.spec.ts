import { test } from '@japa/runner'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import ts from 'typescript'
import { childEnv, runNode } from '#tests/helpers/processes'

/**
 * V8's parser marks a function literal assigned straight to a property
 * (`target.call = () => …`) to be allocated in the old generation. Made per
 * request, such a closure dies there and keeps what it captured — through
 * it, the request — alive through every scavenge until the next full
 * collection (docs/architecture.md, Memory; bench:uow-gc). No V8 flag turns
 * it off, so the code on the request path is written not to do it: ours by
 * a lint rule (eslint.config.js), the libraries' by patches/ (patch-package,
 * applied by npm's postinstall).
 */
async function oldSpaceGrowth(shape: 'assigned' | 'local') {
  const run = await runNode(
    [
      '--min-semi-space-size=16',
      '--max-semi-space-size=16',
      '--expose-gc',
      '--no-concurrent-sweeping',
      // The parser's decision, without a race: TurboFan-compiled code placed ~3/4 of them old
      // (--always-turbofan), so a tier-up partway through the loop moved the figure run to run.
      '--no-maglev',
      '--no-turbofan',
      'tests/fixtures/closure_pretenuring_probe.ts',
      shape,
    ],
    childEnv({ NODE_OPTIONS: undefined })
  )
  if (run.code !== 0) throw new Error(`probe exited ${run.code}: ${run.stderr}`)
  const answer = JSON.parse(run.stdout) as { oldSpaceGrowth: number; kept: number }
  if (answer.kept !== 20_100) throw new Error(`probe kept ${answer.kept} holders`)
  return answer.oldSpaceGrowth
}

/** `target.prop = <function literal>` inside a function: the shape V8 pretenures. */
function pretenuredClosures(fileName: string, source: string) {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true)
  const found: string[] = []
  const visit = (node: ts.Node, insideFunction: boolean) => {
    if (
      insideFunction &&
      ts.isBinaryExpression(node) &&
      node.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
      (ts.isPropertyAccessExpression(node.left) || ts.isElementAccessExpression(node.left)) &&
      (ts.isArrowFunction(node.right) || ts.isFunctionExpression(node.right))
    ) {
      const { line } = file.getLineAndCharacterOfPosition(node.getStart())
      found.push(`${fileName}:${line + 1}: ${node.left.getText()}`)
    }
    ts.forEachChild(node, (child) => visit(child, insideFunction || ts.isFunctionLike(node)))
  }
  visit(file, false)
  return found
}

/**
 * Library code a request runs per call that patches/ rewrites: knex builds
 * each transaction's client and transactor with such closures, undici each
 * request's handler, ioredis each command (@adonisjs/redis's copy and
 * BullMQ's).
 */
const PATCHED = [
  { from: 'knex', files: ['lib/execution/transaction.js', 'lib/knex-builder/make-knex.js'] },
  {
    from: 'undici',
    files: ['lib/api/api-request.js', 'lib/core/request.js', 'lib/web/fetch/index.js'],
  },
  { from: 'ioredis', files: ['built/Command.js'] },
  { from: '@adonisjs/redis', package: 'ioredis', files: ['built/Command.js'] },
]

/** The installed copy of `name` as `from` resolves it (a nested copy where npm put one). */
function packageRoot(from: string, name: string) {
  const requireFrom = createRequire(import.meta.resolve(from))
  const entry = requireFrom.resolve(name)
  return entry.slice(
    0,
    entry.lastIndexOf(`/node_modules/${name}/`) + `/node_modules/${name}/`.length
  )
}

test.group('Closures a request makes are allocated young', () => {
  test('V8 allocates a function literal assigned to a property in the old generation', async ({
    assert,
  }) => {
    // The control: 20,000 such closures grow the old generation by ~1 MB with no collection.
    assert.isAbove(await oldSpaceGrowth('assigned'), 512 * 1024)
  }).timeout(30_000)

  test('the same closure through a local is allocated young', async ({ assert }) => {
    assert.isBelow(await oldSpaceGrowth('local'), 64 * 1024)
  }).timeout(30_000)

  test('finds the shape inside functions only, not through a local', ({ assert }) => {
    const source = [
      'exports.top = () => 1',
      'function f(target, captured) {',
      '  target.call = () => captured',
      '  target["other"] = function () { return captured }',
      '  const viaLocal = () => captured',
      '  target.viaLocal = viaLocal',
      '}',
    ].join('\n')
    assert.deepEqual(pretenuredClosures('probe.js', source), [
      'probe.js:3: target.call',
      'probe.js:4: target["other"]',
    ])
  })

  test('the installed libraries on the request path carry the patches', async ({ assert }) => {
    const found: string[] = []
    for (const library of PATCHED) {
      const name = library.package ?? library.from
      const root = library.from === name ? packageRoot(name, name) : packageRoot(library.from, name)
      for (const file of library.files) {
        found.push(...pretenuredClosures(`${name}/${file}`, await readFile(root + file, 'utf8')))
      }
    }
    assert.deepEqual(found, [])
  })
})
