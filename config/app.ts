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
  // UUIDs when the caller sends no X-Request-Id; request_id_middleware replaces unsafe ones.
  generateRequestId: true,
  createRequestId: () => randomUUID(),
  allowMethodSpoofing: false,
  trustProxy: (address: string) => trustedProxies.includes(address),
  useAsyncLocalStorage: true,
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
