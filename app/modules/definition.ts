import type { OpenApiFragment } from '#app/openapi/types'
import type { BackgroundTask } from '#app/platform/background'
import type { MaintenanceTask } from '#app/platform/maintenance'
import type { WebhookEventDeclaration } from '#app/messaging/webhook_events'

/**
 * How a module plugs into the platform — everything it contributes, in one
 * typed object in `modules/<name>/module.ts`. The composition root
 * (start/modules.ts) lists the definitions; nothing is found by file name.
 */
export interface ModuleDefinition<Name extends string = string> {
  name: Name
  /** Registers the module's routes; they are mounted under /api/v1. */
  routes: () => void
  /** Routes outside /api/v1 (`/.well-known/jwks.json`, the OpenAI-compatible `/v1`). */
  rootRoutes?: () => void
  /**
   * What the module adds to /openapi.json; a test fails for any route missing
   * from it. A function when it depends on what other modules declared
   * (called once every definition is loaded).
   */
  openapi: OpenApiFragment | (() => OpenApiFragment)
  /** Integration events tenants may receive by webhook, with their payload schemas. */
  webhookEvents?: Record<string, WebhookEventDeclaration>
  /**
   * Loads the module's event handlers (their `subscribe()` calls). Every
   * process loads every module's — the relay routes by the full table — and
   * consumes only the mounted ones'.
   */
  subscribers?: () => Promise<unknown>
  /** Loads the module's operation handlers (their `defineOperation()` calls); every process loads them. */
  operations?: () => Promise<unknown>
  /** Recurring work the worker runs on each pass while the module is mounted; names start `<module>.`. */
  jobs?: BackgroundTask[]
  /** Purges the maintenance loop runs (rows that can no longer matter); names start `<module>_` or `<module>.`. */
  maintenance?: MaintenanceTask[]
  /** Runs when the process stops, after in-flight requests (flush buffers, close listeners). */
  onShutdown?: () => Promise<void>
  /** The module's settings, read from the environment once. */
  config?: Record<string, unknown>
}

/** Checks the parts' names against the module's and returns the definition, typed by its name. */
export function defineModule<const Name extends string>(
  definition: ModuleDefinition<Name>
): ModuleDefinition<Name> {
  if (!/^[a-z][a-z0-9_]*$/.test(definition.name)) {
    throw new Error(`A module name is lower case letters, digits and _, got "${definition.name}"`)
  }
  for (const job of definition.jobs ?? []) {
    if (!job.name.startsWith(`${definition.name}.`)) {
      throw new Error(
        `Job "${job.name}" of module ${definition.name} must be named "${definition.name}.…"`
      )
    }
  }
  for (const task of definition.maintenance ?? []) {
    if (!new RegExp(`^${definition.name}[._]`).test(task.name)) {
      throw new Error(
        `Maintenance task "${task.name}" of module ${definition.name} must be named "${definition.name}_…"`
      )
    }
  }
  return definition
}
