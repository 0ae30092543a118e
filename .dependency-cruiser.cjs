/**
 * Module boundaries (DESIGN.md §3), checked by `npm run lint`:
 * a module imports another module only through its index.ts, and the shared
 * kernel in app/ never imports a module.
 * @type {import('dependency-cruiser').IConfiguration}
 */
const { join } = require('node:path')

module.exports = {
  forbidden: [
    {
      name: 'module-boundary',
      comment: 'Import another module only through its public index.ts (or talk to it through events).',
      severity: 'error',
      from: { path: '^modules/([^/]+)/' },
      to: { path: '^modules/', pathNot: ['^modules/$1/', '^modules/[^/]+/index\\.ts$'] },
    },
    {
      name: 'kernel-independent-of-modules',
      comment: 'app/ is the shared kernel: modules depend on it, never the reverse.',
      severity: 'error',
      from: { path: '^app/' },
      to: { path: '^modules/' },
    },
    {
      name: 'thin-controllers',
      comment:
        'A controller validates, authorizes, calls a service and answers: the service owns units of work and SQL.',
      severity: 'error',
      from: {
        path: '(^modules/[^/]+/controllers/|_controller\\.ts$)',
        pathNot: '^tests/fixtures/lint/',
      },
      to: { path: ['app/tenancy/', 'node_modules/@adonisjs/lucid/', 'node_modules/pg/'] },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve would fail at run time.',
      severity: 'error',
      from: { pathNot: '^tests/fixtures/lint/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(build|storage|node_modules|\\.adonisjs)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: join(__dirname, 'tsconfig.json') },
    webpackConfig: { fileName: join(__dirname, '.lint/resolve.cjs') },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
      mainFields: ['module', 'main', 'types'],
    },
  },
}
