import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/*
| The names of the modules, in mount order. Kept apart from their definitions
| (start/modules.ts) because the environment validation and the database
| configuration need the names before any module code may load.
*/
export const MODULE_NAMES = [
  'system',
  'identity',
  'gateway',
  'inventory',
  'orders',
  'notifications',
  'chat',
] as const
export type ModuleName = (typeof MODULE_NAMES)[number]

/** Every module's migrations run in every process: split processes share one schema. */
export function migrationPaths(): string[] {
  return MODULE_NAMES.map((name) => `modules/${name}/database/migrations`).filter((path) =>
    existsSync(fileURLToPath(new URL(`../${path}`, import.meta.url)))
  )
}
