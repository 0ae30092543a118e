/*
| The one way to call a URL a tenant supplied (webhooks, provider base URLs,
| publishing channels): DESIGN.md §5. Addresses are checked when the socket
| connects — after DNS, so a name that resolves (or re-resolves) to this
| machine or the private network is refused, and so are numeric spellings of
| such addresses. No redirects are followed. Refusals say only that the
| destination is not allowed, so the error cannot be used to scan a network.
*/
import dns from 'node:dns'
import net from 'node:net'
import ipaddr from 'ipaddr.js'
import { Agent, buildConnector, fetch as undiciFetch, request, type Dispatcher } from 'undici'
import env from '#start/env'
import { ProblemException } from '#app/http/problem'
import { outsideRequests } from '#app/platform/outside_requests'

export class OutboundRefusedError extends Error {
  readonly code = 'E_OUTBOUND_REFUSED'
  constructor() {
    super('destination not allowed')
  }
}

interface AllowedOrigin {
  protocol: string
  hostname: string
  /** null: any port. */
  port: string | null
}

/**
 * Origins exempt from the address check, from OUTBOUND_ALLOWLIST;
 * replaceable at run time so tests can switch the policy on for one case.
 */
let allowlist: AllowedOrigin[] = parseAllowlist(env.get('OUTBOUND_ALLOWLIST'))

export function parseAllowlist(value: string | undefined): AllowedOrigin[] {
  if (!value?.trim()) return []
  return value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const wildcard = /:\*$/.test(entry)
      let url: URL
      try {
        url = new URL(wildcard ? entry.replace(/:\*$/, '') : entry)
      } catch {
        throw new Error(
          `OUTBOUND_ALLOWLIST: "${entry}" is not an origin like http://127.0.0.1:11434`
        )
      }
      return {
        protocol: url.protocol,
        hostname: url.hostname,
        port: wildcard ? null : url.port || defaultPort(url.protocol),
      }
    })
}

/** Replaces the allowlist and returns the previous one (tests). */
export function setOutboundAllowlist(next: AllowedOrigin[]) {
  const previous = allowlist
  allowlist = next
  return previous
}

function defaultPort(protocol: string) {
  return protocol === 'https:' ? '443' : '80'
}

function isAllowlisted(protocol: string, hostname: string, port: string) {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const effectivePort = port || defaultPort(protocol)
  return allowlist.some(
    (entry) =>
      entry.protocol === protocol &&
      entry.hostname.replace(/^\[|\]$/g, '').toLowerCase() === host &&
      (entry.port === null || entry.port === effectivePort)
  )
}

/**
 * Only public unicast addresses. IPv4-mapped IPv6 (::ffff:127.0.0.1) is
 * judged as the IPv4 address it carries; every special range ipaddr.js knows
 * (loopback, private, unique local, link-local, CGNAT, multicast,
 * unspecified, broadcast, reserved, 6to4/Teredo/NAT64 wrappers…) is refused.
 */
export function isPublicAddress(address: string) {
  if (!ipaddr.isValid(address)) return false
  let parsed = ipaddr.parse(address)
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address()
  }
  return parsed.range() === 'unicast'
}

function isLocalName(hostname: string) {
  const name = hostname.toLowerCase().replace(/\.$/, '')
  return name === 'localhost' || name.endsWith('.localhost')
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | dns.LookupAddress[],
  family?: number
) => void

/** dns.lookup that fails when any address of the name is not public. */
function guardedLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback) {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, [])
    if (addresses.length === 0 || addresses.some((entry) => !isPublicAddress(entry.address))) {
      return callback(new OutboundRefusedError(), [])
    }
    if (options.all) return callback(null, addresses)
    return callback(null, addresses[0].address, addresses[0].family)
  })
}

const checkedConnect = buildConnector({ lookup: guardedLookup, timeout: 10_000 })
const plainConnect = buildConnector({ timeout: 10_000 })

/**
 * Pooled connections are opened outside the request that asked for them
 * (app/platform/outside_requests.ts): each would otherwise keep that request's
 * whole context alive for as long as it stays in the pool.
 */
const connectOutsideRequests =
  (connect: buildConnector.connector): buildConnector.connector =>
  (options, callback) =>
    outsideRequests(() => connect(options, callback))

/** undici connector applying the address policy to every new connection. */
const guardedConnect: buildConnector.connector = (options, callback) => {
  if (isAllowlisted(options.protocol, options.hostname, options.port)) {
    return plainConnect(options, callback)
  }
  const host = options.hostname.replace(/^\[|\]$/g, '')
  // An IP literal never goes through lookup: judge it here.
  if (isLocalName(host) || (net.isIP(host) && !isPublicAddress(host))) {
    return callback(new OutboundRefusedError(), null)
  }
  return checkedConnect(options, callback)
}

const dispatchers = new Map<string, Agent>()

export interface OutboundOptions {
  /**
   * The URL comes from the operator's environment (OLLAMA_HOST,
   * OPENAI_BASE_URL), not from a tenant: it may be on this machine or the
   * private network, which is where an operator runs Ollama.
   */
  operatorConfigured?: boolean
}

/**
 * The connection pool for tenant-supplied URLs. `silenceMs` bounds the wait
 * for the answer to start and every silence within its body — never the
 * total time, so a long stream is not cut while data flows.
 */
export function outboundDispatcher(silenceMs = 30_000, options: OutboundOptions = {}): Dispatcher {
  const key = `${silenceMs}:${options.operatorConfigured ? 'operator' : 'guarded'}`
  let agent = dispatchers.get(key)
  if (!agent) {
    agent = new Agent({
      connect: connectOutsideRequests(options.operatorConfigured ? plainConnect : guardedConnect),
      keepAliveTimeout: 30_000,
      connections: 256,
      headersTimeout: silenceMs,
      bodyTimeout: silenceMs,
    })
    dispatchers.set(key, agent)
  }
  return agent
}

export async function closeOutbound() {
  await Promise.all([...dispatchers.values()].map((agent) => agent.close()))
  dispatchers.clear()
}

/** undici's request through the guarded pool; it follows no redirects. */
export function outboundRequest(
  url: string,
  options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { silenceMs?: number }
) {
  const { silenceMs, ...rest } = options
  return request(url, {
    ...rest,
    dispatcher: outboundDispatcher(silenceMs),
    headersTimeout: silenceMs,
    bodyTimeout: silenceMs,
  })
}

/** A fetch for SDKs that take one (the ollama client): guarded pool, a redirect is an error. */
export function outboundFetch(
  silenceMs?: number,
  options: OutboundOptions = {}
): typeof globalThis.fetch {
  const dispatcher = outboundDispatcher(silenceMs, options)
  return ((input: string | URL | Request, init?: RequestInit) =>
    undiciFetch(input as string, {
      ...(init as Record<string, unknown>),
      redirect: 'error',
      dispatcher,
    })) as unknown as typeof globalThis.fetch
}

/** True when `error` (or its cause) is the address policy refusing the destination. */
export function isOutboundRefusal(error: unknown): boolean {
  let current: unknown = error
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof OutboundRefusedError) return true
    current = (current as { cause?: unknown }).cause
  }
  return false
}

/**
 * Checks a URL a tenant wants stored: http(s), no credentials, and not an
 * address that is obviously local or private (names are checked again at
 * connect time, where DNS is resolved). Returns the normalised URL.
 */
export function checkOutboundUrl(
  value: string,
  options: { field: string; what: string; httpsOnly?: boolean }
): string {
  const refuse = (reason: string) =>
    new ProblemException(422, 'validation_failed', `The ${options.what} is not acceptable.`, [
      { field: options.field, rule: 'url', message: reason },
    ])
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw refuse('not a URL')
  }
  if (!['http:', 'https:'].includes(url.protocol))
    throw refuse('only http and https URLs are allowed')
  if (url.username || url.password) {
    throw refuse('credentials do not belong in the URL')
  }
  if (options.httpsOnly && url.protocol !== 'https:') throw refuse('must be https')
  // URL parsing already turned 2130706433 and 0x7f.1 into 127.0.0.1.
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const local = isLocalName(host) || (net.isIP(host) !== 0 && !isPublicAddress(host))
  if (local && !isAllowlisted(url.protocol, url.hostname, url.port)) {
    throw refuse(
      'points at a loopback, private or reserved address; an operator can allow it with OUTBOUND_ALLOWLIST'
    )
  }
  return url.toString()
}
