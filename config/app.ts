import { randomUUID } from 'node:crypto'
import env from '#start/env'
import app from '@adonisjs/core/services/app'
import { Secret } from '@adonisjs/core/helpers'
import { defineConfig } from '@adonisjs/core/http'

export const appKey = new Secret(env.get('APP_KEY').release())

export const http = defineConfig({
  // UUIDs when the caller sends no X-Request-Id; request_id_middleware replaces unsafe ones.
  generateRequestId: true,
  createRequestId: () => randomUUID(),
  allowMethodSpoofing: false,
  useAsyncLocalStorage: true,
  cookie: {
    domain: '',
    path: '/',
    maxAge: '2h',
    httpOnly: true,
    secure: app.inProduction,
    sameSite: 'lax',
  },
})
