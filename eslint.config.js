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
  }
)
