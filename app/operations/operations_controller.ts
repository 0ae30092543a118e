import type { HttpContext } from '@adonisjs/core/http'
import { actorOf } from '#app/auth/policies'
import { operationListValidator } from '#app/operations/validators'
import { sse } from '#app/http/sse'
import { changeFeed } from '#app/platform/change_feed'
import OperationPolicy from '#app/operations/operation_policy'
import { OPERATIONS_CHANNEL } from '#app/operations/operations'
import { operationsService } from '#app/operations/service'

/** Without a working change feed, a progress stream looks this often. */
const FALLBACK_POLL_MS = 2_000

/** The operation, when the caller may see it (OperationPolicy), else the same 404 as a missing one. */
async function authorizedFind(ctx: HttpContext) {
  const operation = await operationsService.find(actorOf(ctx), ctx.params.id)
  await ctx.bouncer.with(OperationPolicy).authorize('view', operation)
  return operation
}

export default class OperationsController {
  async index(ctx: HttpContext) {
    await ctx.bouncer.with(OperationPolicy).authorize('list')
    const filters = await operationListValidator.validate(ctx.request.qs())
    const everyone = await ctx.bouncer.with(OperationPolicy).allows('viewEveryone')
    return operationsService.list(actorOf(ctx), filters, { everyone })
  }

  async show(ctx: HttpContext) {
    const operation = await authorizedFind(ctx)
    return operation.serialize()
  }

  async destroy(ctx: HttpContext) {
    await authorizedFind(ctx)
    const operation = await operationsService.cancel(actorOf(ctx), ctx.params.id)
    return ctx.response.accepted(operation.serialize())
  }

  /**
   * Server-sent events: a `progress` event whenever the operation changes
   * (woken by its NOTIFY, not by polling), then `done` with the final state.
   * A reconnecting client simply gets the current state first.
   */
  async events(ctx: HttpContext) {
    const actor = actorOf(ctx)
    let operation = await authorizedFind(ctx)
    const stream = sse(ctx)
    let wake: () => void = () => {}
    const stop = changeFeed.on(OPERATIONS_CHANNEL, (payload) => {
      if (payload === operation.id || payload === '*') wake()
    })
    changeFeed.ensure()

    void (async () => {
      let last = ''
      try {
        while (!stream.signal.aborted) {
          const json = JSON.stringify(operation.serialize())
          if (json !== last) {
            await stream.send(json, { event: 'progress' })
            last = json
          }
          if (operation.finished) {
            await stream.send(json, { event: 'done' })
            break
          }
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, changeFeed.listening ? 30_000 : FALLBACK_POLL_MS)
            wake = () => {
              clearTimeout(timer)
              resolve()
            }
            stream.signal.addEventListener('abort', wake, { once: true })
          })
          if (!stream.signal.aborted) operation = await operationsService.find(actor, operation.id)
        }
      } catch (error) {
        ctx.logger.warn({ err: error }, 'operation progress stream failed')
        await stream.send({ code: 'stream_failed' }, { event: 'error' })
      } finally {
        stop()
        stream.close()
      }
    })()
  }
}
