import { createRequire } from 'node:module'

/** At least 12 characters (NIST 800-63B favours length over composition rules); 128 caps hashing cost. */
export const PASSWORD_MIN_LENGTH = 12
export const PASSWORD_MAX_LENGTH = 128

const require = createRequire(import.meta.url)
let common: Set<string> | undefined

/**
 * The common-password list of zxcvbn-ts (about 49,000 passwords seen in
 * breaches), loaded on first use and kept to the entries long enough to pass
 * the length rule — a few hundred strings.
 */
function commonPasswords() {
  if (!common) {
    const { dictionary } = require('@zxcvbn-ts/language-common') as {
      dictionary: Record<string, string[]>
    }
    common = new Set(
      dictionary['passwords-common']
        .filter((entry) => entry.length >= PASSWORD_MIN_LENGTH)
        .map((entry) => entry.toLowerCase())
    )
  }
  return common
}

/** Why a new password is refused (NIST 800-63B §5.1.1.2), or null when it is acceptable. */
export function passwordWeakness(password: string, email?: string | null): string | null {
  const folded = password.toLowerCase()
  if (commonPasswords().has(folded)) {
    return 'This password is on a list of commonly used passwords; choose another'
  }
  if (email) {
    const address = email.trim().toLowerCase()
    if (folded === address || folded === address.split('@')[0]) {
      return 'The password must not be your email address'
    }
  }
  return null
}
