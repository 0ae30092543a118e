/*
| Validators for environment variables, shared by start/env.ts and the
| modules' own env.ts files (start/module_env.ts). Each has the signature
| AdonisJS' Env.create takes for a custom rule: it returns the parsed value,
| or throws a message naming the variable, which boot prints as one line.
*/

/**
 * A count, size or duration: digits only — not "30s", "-1" or "1.5", which
 * `Number()` would turn into NaN, a negative or a fraction that the code
 * using it then misreads (a NaN cap admits nothing, a negative lease expires
 * at once) — within [min, max]. Unset or empty: undefined (the default).
 */
export function wholeNumber(range: { min?: number; max?: number } = {}) {
  const min = range.min ?? 0
  const max = range.max ?? Number.MAX_SAFE_INTEGER
  const bounds = range.max === undefined ? `of at least ${min}` : `from ${min} to ${max}`
  return (name: string, value?: string): number | undefined => {
    if (value === undefined || value.trim() === '') return undefined
    const trimmed = value.trim()
    const parsed = Number(trimmed)
    if (!/^\d+$/.test(trimmed) || parsed < min || parsed > max) {
      throw new Error(`${name} must be a whole number ${bounds} (got "${value}")`)
    }
    return parsed
  }
}

/** A TCP port. */
export const port = wholeNumber({ min: 1, max: 65_535 })
