import app from '@adonisjs/core/services/app'
import BodyParserMiddleware from '@adonisjs/core/bodyparser_middleware'
import type { HttpContext } from '@adonisjs/core/http'
import type { NextFn } from '@adonisjs/core/types/http'
import { runStages, type Stage } from '#app/http/stages'
import { guardInput } from '#middleware/input_guard_middleware'

/*
| Made once: the container's binding builds a new body parser, with its
| parsers' options prepared again, each time it is asked for one.
*/
const bodyParser = await app.container.make(BodyParserMiddleware)

/**
 * What runs for every matched route, before its own middleware: the body
 * parser (only routes read bodies, so a 404 never parses one), then the NUL
 * guard over the parsed input. One middleware for both (see `runStages`).
 * `ctx.auth` and `ctx.bouncer` are made on first use (`app/http/context.ts`),
 * so routes that never authenticate do not pay for them.
 */
const stages: readonly Stage[] = [(ctx, next) => bodyParser.handle(ctx, next), guardInput]

export default class RouteKernelMiddleware {
  handle(ctx: HttpContext, next: NextFn) {
    return runStages(stages, ctx, next)
  }
}
