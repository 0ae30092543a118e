import { randomUUID } from 'node:crypto'
import env from '#start/env'
import app from '@adonisjs/core/services/app'
import { Secret } from '@adonisjs/core/helpers'
import { defineConfig } from '@adonisjs/core/http'
import { addressList } from '#app/platform/address_list'
import { serializeJsonBody } from '#app/http/json_body'

export const appKey = new Secret(env.get('APP_KEY').release())

/**
 * X-Forwarded-For is believed only from the proxies TRUST_PROXY names (none
 * by default): otherwise any client could pick the address that login
 * throttling and audit records see.
 */
const trustedProxies = addressList(env.get('TRUST_PROXY'), 'TRUST_PROXY')

export const http = defineConfig({
  // request_id_middleware gives every request its id first (a sane incoming one, else a UUID);
  // kept on so that `request.id()` has one even for code that runs before it.
  generateRequestId: true,
  createRequestId: () => randomUUID(),
  allowMethodSpoofing: false,
  trustProxy: (address: string) => trustedProxies.includes(address),
  useAsyncLocalStorage: true,
  // Indexed route lookup (static segments, then a segment index) instead of trying each route of
  // the method in turn; the first registered match still wins, as with the linear matcher.
  router: { matcher: 'tree' },
  // Native JSON.stringify, the safe way only for a BigInt or a cycle: the same text, faster.
  serializeJSON: serializeJsonBody,
  cookie: {
    domain: '',
    path: '/',
    maxAge: '2h',
    httpOnly: true,
    secure: app.inProduction,
    sameSite: 'lax',
  },
})
