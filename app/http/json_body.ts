import { safeStringify } from '@poppinss/utils/json'

/**
 * Serializes every JSON answer (`http.serializeJSON` in config/app.ts).
 *
 * AdonisJS's default, `safeStringify`, walks the value in JavaScript (via
 * safe-stable-stringify with a replacer) so that a BigInt or a circular
 * reference cannot throw. Nearly every answer has neither, and V8's native
 * `JSON.stringify` writes it several times faster (`npm run bench:json`).
 * Native throws a TypeError on exactly those two cases, and then the answer
 * is written the safe way, so the text is the same either way: insertion
 * order kept, BigInts as strings, a circular reference left out.
 */
export function serializeJsonBody(value: unknown): string | undefined {
  try {
    return JSON.stringify(value)
  } catch (error) {
    if (!(error instanceof TypeError)) throw error
    return safeStringify(value)
  }
}
