import env from '#start/env'
import { MODULE_NAMES } from '#start/module_names'
import { isModuleSelected } from '#app/platform/module_selection'
import packageJson from '../../../package.json' with { type: 'json' }

export interface SystemInfo {
  name: string
  version: string
  node: string
  role: 'web' | 'worker' | 'all'
  modules: string[]
}

/** What this process is: useful to a client, and to an operator checking a split deployment. */
export function systemInfo(): SystemInfo {
  return {
    name: 'atrium',
    version: packageJson.version,
    node: process.version,
    role: env.get('ATRIUM_ROLE') ?? 'all',
    modules: MODULE_NAMES.filter((name) => isModuleSelected(name, env.get('ATRIUM_MODULES'))),
  }
}
