/*
| The composition root's modules: each module's definition (module.ts),
| imported, so a module missing here — or a definition whose parts do not fit
| — is a type error rather than a file the loader did not find.
*/
import type { ModuleDefinition } from '#app/modules/definition'
import { registerBackgroundTask } from '#app/platform/background'
import { registerMaintenance } from '#app/platform/maintenance'
import { declareWebhookEvents } from '#app/messaging/webhook_events'
import { isModuleSelected } from '#app/platform/module_selection'
import { MODULE_NAMES, type ModuleName } from '#start/module_names'
import system from '#modules/system/module'
import identity from '#modules/identity/module'
import gateway from '#modules/gateway/module'
import inventory from '#modules/inventory/module'
import orders from '#modules/orders/module'
import notifications from '#modules/notifications/module'
import chat from '#modules/chat/module'

export { MODULE_NAMES, type ModuleName } from '#start/module_names'

export const MODULES = {
  system,
  identity,
  gateway,
  inventory,
  orders,
  notifications,
  chat: chat,
} satisfies { [Name in ModuleName]: ModuleDefinition<Name> }

// Declared before anything asks which events webhooks may carry.
for (const name of MODULE_NAMES) {
  const events = (MODULES[name] as ModuleDefinition).webhookEvents
  if (events) declareWebhookEvents(events)
}

/** ATRIUM_MODULES=orders,identity limits what a process mounts; unset means all. */
export function mountedModules(selection?: string): ModuleDefinition[] {
  return MODULE_NAMES.filter((name) => isModuleSelected(name, selection)).map(
    (name) => MODULES[name] as ModuleDefinition
  )
}

/**
 * Plugs every module's background parts into this process: event handlers
 * (all modules': the relay routes by the full table; consumers take only the
 * mounted ones'), jobs (run only while their module is mounted) and purges.
 */
export async function registerModuleParts() {
  for (const name of MODULE_NAMES) {
    const module: ModuleDefinition = MODULES[name]
    for (const job of module.jobs ?? []) registerBackgroundTask(job)
    for (const task of module.maintenance ?? []) registerMaintenance(task)
  }
  await Promise.all(
    MODULE_NAMES.flatMap((name) => {
      const module: ModuleDefinition = MODULES[name]
      return [module.subscribers?.(), module.operations?.()]
    })
  )
}
