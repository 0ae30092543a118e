import type { Router, Server } from '@adonisjs/core/http'

/*
| AdonisJS answers a request by asking its container, for every middleware
| class (server, router, named) and for the route's `[Controller, 'method']`,
| for a new instance and for the method's dependencies: `Function.toString`
| to tell a class from a function, then a chain of asynchronous lookups
| (0.8 µs each, `npm run bench:controllers`). Atrium's middleware and
| controllers take no injections, so each handler looks its class up once, on
| its first request, and from then on makes the instance itself — a new one
| per request, as the container does, so no state can pass from one request
| to the next.
|
| A class that declares injections (`@inject()` on its constructor or on the
| method) keeps the container's per-request path, as does everything under
| hot module replacement (`npm run dev`), where a changed controller or
| middleware must be imported again. `container.swap` of such a class only
| applies before its handler's first request.
*/

/** What AdonisJS calls for a middleware or a route handler: `handle(resolver, ctx, next?, args?)`. */
interface ContainerHandler {
  reference?: unknown
  handle: (resolver: unknown, ...args: unknown[]) => unknown
}
type DirectCall = (...args: unknown[]) => unknown
/** A middleware or controller class as AdonisJS holds it. */
type HandlerClass = (new () => Record<string, unknown>) & {
  prototype: Record<string, unknown>
  containerInjections?: Record<string | symbol, unknown>
}

const CLASS_SOURCE = /^class[\s{]/
/** Handlers already wrapped: the router's own middleware are one object shared by every route. */
const wrapped = new WeakSet<ContainerHandler>()

/**
 * Makes the server's middleware, and every committed route's middleware and
 * controller, call their class directly after their first request. Wraps
 * `router.commit`, which the HTTP server calls once when it boots, after it
 * has built its own middleware stack (in tests too, after the fixture routes
 * are added).
 */
export function callHandlersDirectly(router: Router, server: Server) {
  // Under hot-hook every module sees `import.meta.hot`; AdonisJS's own check is the same.
  if ('hot' in import.meta) return
  const commit = router.commit.bind(router)
  const commitThenWrap = () => {
    commit()
    const wrap = (handler: unknown) => {
      if (typeof handler !== 'object' || handler === null) return
      if (wrapped.has(handler as ContainerHandler)) return
      wrapped.add(handler as ContainerHandler)
      callDirectly(handler as ContainerHandler)
    }
    for (const middleware of server.getMiddlewareList()) wrap(middleware)
    for (const routes of Object.values(router.toJSON())) {
      for (const route of routes) {
        for (const middleware of route.middleware.all()) wrap(middleware)
        wrap(route.handler)
      }
    }
  }
  router.commit = commitThenWrap
}

/**
 * Makes one middleware or route handler call its class directly after its
 * first request (bench:controllers uses it alone). A handler AdonisJS runs
 * without the container (a plain function, a string reference) is left as it is.
 */
export function callDirectly(handler: ContainerHandler) {
  const target = classReference(handler.reference)
  if (!target) return
  const viaContainer = handler.handle
  let found: Promise<DirectCall | null> | undefined
  const firstCall: ContainerHandler['handle'] = async (resolver, ...args) => {
    // A class that fails to load is left to the container, whose error then says why.
    found ??= directCall(target.load, target.method).catch(() => null)
    const call = await found
    if (!call) {
      handler.handle = viaContainer
      return viaContainer(resolver, ...args)
    }
    const direct: ContainerHandler['handle'] = async (_resolver, ...directArgs) =>
      call(...directArgs)
    handler.handle = direct
    return call(...args)
  }
  handler.handle = firstCall
}

/** `[Controller or lazy import, method?]` for a controller, the lazy import itself for a middleware. */
function classReference(reference: unknown): { load: unknown; method: string } | null {
  if (Array.isArray(reference)) {
    return { load: reference[0], method: (reference[1] as string | undefined) ?? 'handle' }
  }
  return typeof reference === 'function' ? { load: reference, method: 'handle' } : null
}

/**
 * Calls the method on a new instance, or null when the container must make
 * it (injections, constructor arguments, no such method: the container's own
 * error then names the problem).
 */
async function directCall(target: unknown, method: string): Promise<DirectCall | null> {
  const handlerClass = await classOf(target)
  if (!handlerClass || !madeWithoutContainer(handlerClass)) return null
  if (typeof handlerClass.prototype[method] !== 'function') return null
  return (...args) => {
    const instance = new handlerClass()
    return (instance[method] as DirectCall).apply(instance, args)
  }
}

/** A class the container would make with nothing to inject: no `@inject()`, no constructor parameters. */
export function madeWithoutContainer(someClass: {
  length: number
  containerInjections?: unknown
}): boolean {
  return !someClass.containerInjections && someClass.length === 0
}

async function classOf(target: unknown): Promise<HandlerClass | null> {
  if (typeof target !== 'function') return null
  if (CLASS_SOURCE.test(Function.prototype.toString.call(target))) return target as HandlerClass
  const module = await (target as () => Promise<{ default?: unknown }>)()
  const loaded = module.default
  return typeof loaded === 'function' && CLASS_SOURCE.test(Function.prototype.toString.call(loaded))
    ? (loaded as HandlerClass)
    : null
}
