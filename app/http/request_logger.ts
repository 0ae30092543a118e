import { HttpContext, type HttpRequest, type Server } from '@adonisjs/core/http'
import { Logger } from '@adonisjs/core/logger'
import type { LoggerConfig } from '@adonisjs/core/types/logger'

/**
 * `ctx.logger`: the application's logger bound to the request's id, made on
 * the request's first log line at an enabled level rather than when the
 * request arrives.
 *
 * AdonisJS gives every request `logger.child({ request_id })`, and a pino
 * child serialises its bindings (through the redaction paths of
 * config/logger.ts) when it is made: 0.4 µs per request
 * (`npm run bench:request-logger`), 1–2% of `GET /system/ping`'s CPU, for a
 * logger most requests never use — at the default level only failures log.
 *
 * Everything a Logger does goes through its methods, so this one answers
 * level questions from the application's logger until it has a child of its
 * own. Its `pino` is the application's pino, without the request's id: log
 * through the logger's methods.
 */
export class RequestLogger extends Logger {
  #app: Logger
  #request: HttpRequest
  #bound?: Logger

  /** `shared`: what the base class reads of its config ({ enabled, level }), one object for every request. */
  constructor(app: Logger, shared: LoggerConfig, request: HttpRequest) {
    super(shared, app.pino)
    this.#app = app
    this.#request = request
  }

  /** The id is read on first use, so a replaced unsafe id (request_id_middleware) is the one logged. */
  #logger() {
    return (this.#bound ??= this.#app.child({ request_id: this.#request.id() }))
  }

  /** Every level's method (info, warn, …) logs through this one. */
  override log(level: string, ...line: unknown[]) {
    if (!this.#bound && !this.#app.isLevelEnabled(level)) return
    logLine.call(this.#logger(), level, ...line)
  }

  override child(...args: Parameters<Logger['child']>) {
    return this.#logger().child(...args)
  }

  override bindings() {
    return this.#logger().bindings()
  }

  override isLevelEnabled(level: string) {
    return (this.#bound ?? this.#app).isLevelEnabled(level)
  }

  override get level() {
    return (this.#bound ?? this.#app).level
  }

  /** A level of the request's own: its child is made so the application's stays as it is. */
  override set level(level: string) {
    this.#logger().level = level
  }

  override get levelNumber() {
    return (this.#bound ?? this.#app).levelNumber
  }
}

const logLine = Logger.prototype.log as (this: Logger, level: string, ...line: unknown[]) => void

/** Makes the server give each request a RequestLogger instead of a pino child made up front. */
export function logRequestsLazily(server: Server, app: Logger) {
  const shared: LoggerConfig = { enabled: app.isEnabled, level: app.level }
  const createHttpContext: Server['createHttpContext'] = (request, response, resolver) =>
    new HttpContext(request, response, new RequestLogger(app, shared, request), resolver)
  server.createHttpContext = createHttpContext
}
