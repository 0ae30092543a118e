import pg from 'pg'

/** Prefix a bench's own polling statements with this, and they are left out of the count. */
export const UNCOUNTED = '/* bench: not counted */'

let statements = 0
let installed = false

/**
 * Counts the statements this process sends to PostgreSQL from now on (node-
 * postgres' Client#query; the bench's own polling left out). With no core
 * saturated, a path is bound by its round trips, so this is the figure that
 * explains a rate — and it does not move with the machine's noise.
 */
export function countStatements() {
  if (!installed) {
    installed = true
    const query = pg.Client.prototype.query
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const config = args[0] as string | { text?: string }
      const text = typeof config === 'string' ? config : (config?.text ?? '')
      if (!text.startsWith(UNCOUNTED)) statements++
      return (query as (...inner: unknown[]) => unknown).apply(this, args)
    } as typeof query
  }
  /** Runs `work`; returns its result and the statements sent meanwhile, per `units` (to one decimal). */
  return async <T>(units: number, work: () => Promise<T>) => {
    const before = statements
    const result = await work()
    return { result, perUnit: Math.round(((statements - before) / units) * 10) / 10 }
  }
}
