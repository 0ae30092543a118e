import env from '#start/env'

export const ACCESS_TOKEN_TTL_SECONDS = 15 * 60
export const REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 60 * 60
export const TOKEN_AUDIENCE = 'atrium-api'

/** The issuer claim: the public URL when configured, so other services can tell installations apart. */
export function tokenIssuer() {
  return env.get('APP_URL') || 'atrium'
}
