import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'

/** One step of the HTTP kernel: a plain `(ctx, next)` function, made once, shared by every request. */
export type Stage = (ctx: HttpContext, next: NextFn) => unknown

/**
 * Runs the kernel's steps in order as one middleware.
 *
 * AdonisJS resolves every registered middleware through the container on every
 * request: a new instance, `Function.toString` to tell it is a class, and two
 * asynchronous dependency lookups, about 3 µs each on this project's machine.
 * Eight of them were half of `GET /system/ping`'s time (bench:http). The kernel's
 * own steps inject nothing, so they are plain functions and only the middleware
 * that runs them pays that once (server middleware, then router middleware).
 */
export function runStages(stages: readonly Stage[], ctx: HttpContext, next: NextFn) {
  const step = async (index: number): Promise<unknown> =>
    index === stages.length ? next() : stages[index](ctx, () => step(index + 1))
  return step(0)
}
