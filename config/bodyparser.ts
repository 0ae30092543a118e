import env from '#start/env'
import { defineConfig } from '@adonisjs/core/bodyparser'

const limit = env.get('BODY_LIMIT', '1mb')

const bodyParserConfig = defineConfig({
  allowedMethods: ['POST', 'PUT', 'PATCH', 'DELETE'],
  form: {
    convertEmptyStringsToNull: true,
    types: ['application/x-www-form-urlencoded'],
    limit,
  },
  json: {
    // JSON strings are kept byte for byte: a prompt's indentation, a trailing newline and a
    // stop sequence of "\n\n" are what the client meant (AdonisJS trims every string by
    // default). A field that wants trimming says so in its validator (`.trim()`).
    trimWhitespaces: false,
    convertEmptyStringsToNull: false,
    types: [
      'application/json',
      'application/json-patch+json',
      'application/vnd.api+json',
      'application/csp-report',
    ],
    limit,
    strict: true,
  },
  // No route takes uploads yet, so nothing is parsed to disk; multipart bodies are
  // refused with a 415 before this runs (request_guard_middleware). A future upload
  // route lists itself in autoProcess and deletes its files when it is done.
  multipart: {
    autoProcess: false,
    convertEmptyStringsToNull: true,
    processManually: [],
    limit: '20mb',
    types: ['multipart/form-data'],
  },
})

export default bodyParserConfig
