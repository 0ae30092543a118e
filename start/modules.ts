/*
| The composition root's list of modules. A module is a folder under modules/
| with routes.ts (default export: a function registering its routes under
| /api/v1) and openapi.ts (default export: its OpenAPI fragment).
*/
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { OpenApiFragment } from '#app/openapi/types'
import { isModuleSelected } from '#app/platform/module_selection'

export const MODULE_NAMES = [
  'system',
  'identity',
  'gateway',
  'inventory',
  'orders',
  'notifications',
] as const
export type ModuleName = (typeof MODULE_NAMES)[number]

/** ATRIUM_MODULES=orders,identity limits what a process mounts; unset means all. */
export function mountedModules(selection?: string): ModuleName[] {
  return MODULE_NAMES.filter((name) => isModuleSelected(name, selection))
}

/** Every module's migrations run in every process: split processes share one schema. */
export function migrationPaths(): string[] {
  return MODULE_NAMES.map((name) => `modules/${name}/database/migrations`).filter((path) =>
    existsSync(fileURLToPath(new URL(`../${path}`, import.meta.url)))
  )
}

export interface ModuleDefinition {
  name: ModuleName
  /** Routes under /api/v1. */
  registerRoutes: () => void
  /** Routes outside /api/v1 (e.g. /.well-known/jwks.json), when the module has any. */
  registerRootRoutes?: () => void
  openapi: OpenApiFragment
}

/**
 * Imports the module's subscribers.ts, when it has one, so its `subscribe()`
 * calls register handlers in this process. Every process loads every
 * module's: the relay routes by the full table (an event for a module mounted
 * elsewhere still needs its queue), while consumers only take the mounted ones.
 */
export async function loadSubscribers(name: ModuleName) {
  const file = new URL(`../modules/${name}/subscribers.ts`, import.meta.url)
  const compiled = new URL(`../modules/${name}/subscribers.js`, import.meta.url)
  if (existsSync(fileURLToPath(file)) || existsSync(fileURLToPath(compiled))) {
    await import(`#modules/${name}/subscribers`)
  }
}

export async function loadModule(name: ModuleName): Promise<ModuleDefinition> {
  const [routes, openapi] = await Promise.all([
    import(`#modules/${name}/routes`) as Promise<{ default: () => void; rootRoutes?: () => void }>,
    import(`#modules/${name}/openapi`) as Promise<{ default: OpenApiFragment }>,
  ])
  return {
    name,
    registerRoutes: routes.default,
    registerRootRoutes: routes.rootRoutes,
    openapi: openapi.default,
  }
}
