import type { Router } from '@adonisjs/core/http'
import type { HttpContext } from '@adonisjs/core/http'
import type { StoreRouteHandler } from '@adonisjs/http-server/types'

/*
| AdonisJS answers a `[Controller, 'method']` route by asking the container,
| on every request, for a new controller and for the method's dependencies:
| `Function.toString` to tell a class from a function, then a chain of
| asynchronous lookups (0.8 µs a request, `npm run bench:controllers`).
| Atrium's controllers take no injections, so each route looks its
| controller class up once, on its first request, and from then on makes the
| instance itself — a new one per request, as the container does, so no state
| can pass from one request to the next.
|
| A controller that declares injections (`@inject()` on its constructor or on
| the method) keeps the container's per-request path, as does every route
| under hot module replacement (`npm run dev`), where a changed controller
| must be imported again.
*/

type ControllerHandle = Exclude<StoreRouteHandler, (...args: never[]) => unknown>
type ControllerMethod = (ctx: HttpContext) => unknown
/** A controller class as the router holds it. */
type ControllerClass = (new () => Record<string, unknown>) & {
  prototype: Record<string, unknown>
  containerInjections?: Record<string | symbol, unknown>
}

const CLASS_SOURCE = /^class[\s{]/

/**
 * Makes every committed route with a controller call it directly after its
 * first request. Wraps `router.commit`, which the HTTP server calls once when
 * it boots (in tests too, after the fixture routes are added).
 */
export function callControllersDirectly(router: Router) {
  // Under hot-hook every module sees `import.meta.hot`; AdonisJS's own check is the same.
  if ('hot' in import.meta) return
  const commit = router.commit.bind(router)
  router.commit = () => {
    commit()
    for (const routes of Object.values(router.toJSON())) {
      for (const route of routes) {
        if (typeof route.handler !== 'function') callDirectly(route.handler)
      }
    }
  }
}

/** Makes one route handler call its controller directly after its first request (bench:controllers uses it alone). */
export function callDirectly(handler: ControllerHandle) {
  const { reference } = handler
  // String references ('#controllers/x.method') go through the container's importer: left as they are.
  if (!Array.isArray(reference)) return
  const viaContainer = handler.handle
  const method = (reference[1] as string | undefined) ?? 'handle'
  let found: Promise<ControllerMethod | null> | undefined
  handler.handle = async (resolver, ctx, ...injections) => {
    // A controller that fails to load is left to the container, whose error then says why.
    found ??= directCall(reference[0], method).catch(() => null)
    const call = await found
    if (!call) {
      handler.handle = viaContainer
      return viaContainer(resolver, ctx, ...injections)
    }
    handler.handle = async (_resolver, directCtx) => call(directCtx)
    return call(ctx)
  }
}

/**
 * Calls the method on a new controller, or null when the container must make
 * it (injections, constructor arguments, no such method: the container's own
 * error then names the problem).
 */
async function directCall(target: unknown, method: string): Promise<ControllerMethod | null> {
  const controller = await controllerClass(target)
  if (!controller || controller.containerInjections || controller.length > 0) return null
  if (typeof controller.prototype[method] !== 'function') return null
  return (ctx) => {
    const instance = new controller()
    return (instance[method] as ControllerMethod).call(instance, ctx)
  }
}

async function controllerClass(target: unknown): Promise<ControllerClass | null> {
  if (typeof target !== 'function') return null
  if (CLASS_SOURCE.test(Function.prototype.toString.call(target))) return target as ControllerClass
  const module = await (target as () => Promise<{ default?: unknown }>)()
  const loaded = module.default
  return typeof loaded === 'function' && CLASS_SOURCE.test(Function.prototype.toString.call(loaded))
    ? (loaded as ControllerClass)
    : null
}
