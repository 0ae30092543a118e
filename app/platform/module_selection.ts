/** Modules every process mounts: the rest of the platform relies on them. */
export const ALWAYS_MOUNTED = ['system'] as const

/**
 * Whether a process started with ATRIUM_MODULES=`selection` mounts `name`
 * (its routes, and the consumption of its subscribers' events). Unset means
 * everything.
 */
export function isModuleSelected(name: string, selection: string | undefined) {
  if (!selection?.trim()) return true
  if ((ALWAYS_MOUNTED as readonly string[]).includes(name)) return true
  return selection
    .split(',')
    .map((entry) => entry.trim())
    .includes(name)
}
