import { newId } from '#app/platform/ids'

/** A URL-safe tenant slug from its name, with a short random suffix so names need not be unique. */
export function tenantSlug(name: string) {
  const base = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036F]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60)
  return `${base || 'tenant'}-${newId().slice(-6)}`
}
