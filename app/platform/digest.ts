import { hash } from 'node:crypto'

/**
 * SHA-256 of a secret or token, as hex: how API keys, refresh tokens and
 * invitation and verification tokens are stored and looked up. The one-shot
 * `crypto.hash` costs about a third of `createHash().update().digest()` for
 * inputs this short, and an API key is hashed on every /v1 request.
 */
export const sha256Hex = (text: string) => hash('sha256', text, 'hex')
