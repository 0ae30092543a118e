/*
| Every environment variable Atrium reads, validated at boot. A bad value stops
| the process with one line naming the variable (see bin/ entrypoints).
*/
import { Env } from '@adonisjs/core/env'
import { MODULE_NAMES } from '#start/module_names'
import { MODULE_ENV } from '#start/module_env'
import { port, wholeNumber } from '#app/platform/env_rules'

function optionalUrl(protocols: string[], hint: string) {
  return (name: string, value?: string) => {
    if (value === undefined || value === '') return undefined
    let url: URL
    try {
      url = new URL(value)
    } catch {
      throw new Error(`${name} must be ${hint} (got "${redact(value)}")`)
    }
    if (!protocols.includes(url.protocol)) {
      throw new Error(`${name} must be ${hint} (got "${redact(value)}")`)
    }
    return value
  }
}

function optionalHostList(name: string, value?: string) {
  if (value === undefined || value === '') return undefined
  const hosts = value.split(',').map((host) => host.trim())
  const valid = hosts.every((host) => /^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(host))
  if (!valid)
    throw new Error(`${name} must be a comma-separated list of host:port (got "${value}")`)
  return hosts.join(',')
}

function optionalList(allowed: readonly string[]) {
  return (name: string, value?: string) => {
    if (value === undefined || value === '') return undefined
    const items = value.split(',').map((item) => item.trim())
    const unknown = items.filter((item) => !/^[a-z][a-z0-9_-]*$/.test(item))
    if (unknown.length) throw new Error(`${name} has invalid module names: ${unknown.join(', ')}`)
    const notAllowed = items.filter((item) => !allowed.includes(item))
    if (notAllowed.length) {
      throw new Error(
        `${name} names unknown modules: ${notAllowed.join(', ')} (known: ${allowed.join(', ')})`
      )
    }
    return items.join(',')
  }
}

const TRANSPORTS = ['local', 'bullmq', 'rabbitmq', 'kafka'] as const
/** What each broker transport connects to; without it BUS_TRANSPORT is refused rather than silently local. */
const TRANSPORT_NEEDS = {
  bullmq: 'REDIS_URL',
  rabbitmq: 'AMQP_URL',
  kafka: 'KAFKA_BROKERS',
} as const

function busTransport(name: string, value?: string): (typeof TRANSPORTS)[number] | undefined {
  if (value === undefined || value === '') return undefined
  if (!(TRANSPORTS as readonly string[]).includes(value)) {
    throw new Error(`${name} must be one of ${TRANSPORTS.join(', ')} (got "${value}")`)
  }
  return value as (typeof TRANSPORTS)[number]
}

function optionalKeyPrefix(name: string, value?: string) {
  if (value === undefined || value === '') return undefined
  if (!/^[A-Za-z0-9_.-]{1,40}$/.test(value)) {
    throw new Error(`${name} may only hold letters, digits, '.', '_' and '-' (got "${value}")`)
  }
  return value
}

/** Milliseconds for a PostgreSQL limit: a whole number, 0 (off) up to PostgreSQL's maximum. */
function optionalMilliseconds(name: string, value?: string) {
  if (value === undefined || value === '') return undefined
  const milliseconds = Number(value)
  if (!/^\d+$/.test(value) || milliseconds > 2_147_483_647) {
    throw new Error(
      `${name} must be a whole number of milliseconds, 0 for no limit (got "${value}")`
    )
  }
  return milliseconds
}

/** Credentials never reach a log line or an error message. */
function redact(value: string) {
  return value.replace(/\/\/([^@/]*)@/, '//***@')
}

const env = await Env.create(new URL('../', import.meta.url), {
  NODE_ENV: Env.schema.enum(['development', 'production', 'test'] as const),
  PORT: Env.schema.number(),
  HOST: Env.schema.string({ format: 'host' }),
  APP_KEY: Env.schema.secret(),
  APP_URL: Env.schema.string.optional({ format: 'url', tld: false }),
  LOG_LEVEL: Env.schema.enum([
    'fatal',
    'error',
    'warn',
    'info',
    'debug',
    'trace',
    'silent',
  ] as const),

  /** Process role: web (HTTP), worker (background work) or all (both, one container). */
  ATRIUM_ROLE: Env.schema.enum.optional(['web', 'worker', 'all'] as const),
  ATRIUM_MODULES: optionalList(MODULE_NAMES),
  BUS_TRANSPORT: busTransport,
  /** First retry delay of a failed event handler (doubles per attempt). */
  BUS_RETRY_BASE_MS: wholeNumber({ min: 1 }),
  /** Redis key prefix of the BullMQ queues (several Atrium installs can share one Redis). */
  BULLMQ_PREFIX: optionalKeyPrefix,
  BODY_LIMIT: Env.schema.string.optional(),
  /** How long a client may take to send a whole request (headers and body). */
  HTTP_REQUEST_TIMEOUT_SECONDS: wholeNumber({ min: 1 }),
  /** When set, /metrics and /api/v1/system/info need `Authorization: Bearer <this>`. */
  METRICS_TOKEN: Env.schema.secret.optional(),
  /** Addresses that may read /metrics without the token (CIDRs or addresses, comma-separated). */
  METRICS_ALLOW: Env.schema.string.optional(),
  /** Believe X-Forwarded-For from these proxies (CIDRs or addresses, comma-separated); default none. */
  TRUST_PROXY: Env.schema.string.optional(),
  MIGRATE_ON_START: Env.schema.boolean.optional(),
  RELAY_LAG_WARN_SECONDS: wholeNumber({ min: 1 }),
  /** Per unit of work (app/tenancy/limits.ts): one statement's run, a row lock's wait, idle in a transaction; 0 = off. */
  DB_STATEMENT_TIMEOUT_MS: optionalMilliseconds,
  DB_LOCK_TIMEOUT_MS: optionalMilliseconds,
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: optionalMilliseconds,

  DATABASE_URL: optionalUrl(['postgres:', 'postgresql:'], 'a postgres:// URL'),
  EMBEDDED_PG_PORT: port,
  EMBEDDED_PG_DATA: Env.schema.string.optional(),
  REDIS_URL: optionalUrl(['redis:', 'rediss:'], 'a redis:// URL'),
  ELASTICSEARCH_URL: optionalUrl(['http:', 'https:'], 'an http(s):// URL'),
  KAFKA_BROKERS: optionalHostList,
  AMQP_URL: optionalUrl(['amqp:', 'amqps:'], 'an amqp:// URL'),
  OLLAMA_HOST: optionalUrl(['http:', 'https:'], 'an http(s):// URL'),
  OPENAI_BASE_URL: optionalUrl(['http:', 'https:'], 'an http(s):// URL'),
  OPENAI_API_KEY: Env.schema.secret.optional(),
  /** Tenant ids (comma-separated) offered the platform providers above; unset: every tenant. */
  PLATFORM_PROVIDER_TENANTS: (name: string, value?: string) => {
    if (!value) return undefined
    const ids = value.split(',').map((entry) => entry.trim())
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
    if (!ids.every((id) => uuid.test(id))) {
      throw new Error(`${name} must be tenant ids (uuids), comma-separated`)
    }
    return ids.join(',')
  },

  /** Mail: SMTP when SMTP_HOST is set, otherwise .eml files in MAIL_DIR (default storage/mail). */
  SMTP_HOST: Env.schema.string.optional({ format: 'host' }),
  SMTP_PORT: port,
  SMTP_USERNAME: Env.schema.string.optional(),
  SMTP_PASSWORD: Env.schema.secret.optional(),
  MAIL_FROM: Env.schema.string.optional({ format: 'email' }),
  MAIL_DIR: Env.schema.string.optional(),
  /**
   * Origins a tenant-supplied URL may reach although they are loopback or
   * private (e.g. a local Ollama): `http://127.0.0.1:11434,http://10.0.0.5:*`.
   */
  OUTBOUND_ALLOWLIST: Env.schema.string.optional(),

  /** Each module's own (modules/<name>/env.ts). */
  ...MODULE_ENV,
})

const transport = env.get('BUS_TRANSPORT')
if (transport && transport !== 'local' && !env.get(TRANSPORT_NEEDS[transport])) {
  // Same shape as Env's own failure, so boot prints it as one line.
  throw Object.assign(new Error('Invalid environment variables'), {
    code: 'E_INVALID_ENV_VARIABLES',
    help: `- BUS_TRANSPORT=${transport} needs ${TRANSPORT_NEEDS[transport]}`,
  })
}

export default env
