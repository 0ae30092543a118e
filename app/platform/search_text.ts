/**
 * A LIKE/ILIKE pattern matching `text` anywhere, with the caller's `%`, `_`
 * and `\` taken literally: a search for "50%" finds "50%", not everything
 * that starts with 50.
 */
export function containsPattern(text: string) {
  return `%${text.replace(/[\\%_]/g, (character) => `\\${character}`)}%`
}
