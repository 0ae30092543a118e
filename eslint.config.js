import { configApp } from '@adonisjs/eslint-config'

// Module boundaries are checked by dependency-cruiser (.dependency-cruiser.cjs), also run by `npm run lint`.
export default configApp(
  {
    ignores: ['build/**', 'storage/**', '.adonisjs/**', 'bench/results/**', 'database/schema.ts'],
  },
  {
    // Benchmark entry points are named after what they measure (bench/http-baseline.ts → results/http-baseline.json).
    files: ['bench/*.ts'],
    rules: { '@unicorn/filename-case': 'off' },
  },
  {
    // V8 allocates a function literal assigned straight to a property in the old generation
    // (its parser "pretenures" it). Made per request, such a closure dies there and, until the
    // next full collection, keeps everything it reaches — the request — alive through every
    // scavenge, which then copies and promotes it: scavenges of 10–25 ms instead of 1–2
    // (bench:uow-gc; docs/architecture.md, Memory). Through a local it is allocated young.
    files: [
      'app/**/*.ts',
      'modules/**/*.ts',
      'start/**/*.ts',
      'config/**/*.ts',
      'commands/**/*.ts',
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            ':function AssignmentExpression[operator="="][left.type="MemberExpression"] > :matches(ArrowFunctionExpression, FunctionExpression).right',
          message:
            'Assign the function through a local (const handler = …; target.prop = handler): V8 pretenures a function literal assigned to a property, and a dead one keeps what it captured alive through scavenges (docs/architecture.md, Memory).',
        },
      ],
    },
  }
)
