import type { ApplicationService } from '@adonisjs/core/types'
import { HttpContext } from '@adonisjs/core/http'
import { Logger } from '@adonisjs/core/logger'

/**
 * Lets the container inject the current request's HttpContext and logger
 * into a class that declares `@inject()`, as AdonisJS's starter kit does —
 * registered once at boot instead of bound into every request's resolver.
 *
 * The starter kit's middleware calls `resolver.bindValue` twice per request,
 * and each call tells the key is a class by `Function.prototype.toString` of
 * it: ~1.7 µs of `GET /system/ping`'s ~25 µs of CPU, for an injection no
 * route of ours asks for. The server runs every request in async local
 * storage (`useAsyncLocalStorage` in config/app.ts), so the request is known
 * wherever the container is asked, and only an injection pays for it.
 *
 * Outside a request, asking for the HttpContext fails as it always did, and
 * the Logger is the application's (the container's own singleton). A
 * container singleton is made by whoever asks first: one that injects Logger
 * and is first made during a request would keep that request's logger (and,
 * through it, the request) for good, as it would have through the request's
 * resolver before — give singletons `logger` from
 * `@adonisjs/core/services/logger` instead.
 */
export function bindRequestScope(container: ApplicationService['container']) {
  container.bind(HttpContext, () => HttpContext.getOrFail())
  container.if(() => HttpContext.get() !== null).bind(Logger, () => HttpContext.getOrFail().logger)
}
