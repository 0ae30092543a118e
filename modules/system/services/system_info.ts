import env from '#start/env'
import { mountedModules } from '#start/modules'
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
    modules: mountedModules(env.get('ATRIUM_MODULES')),
  }
}
