import type { HttpContext } from '@adonisjs/core/http'
import { ProblemException } from '#app/http/problem'
import { sse } from '#app/http/sse'
import { newId } from '#app/platform/ids'
import {
  authenticate,
  callerOf,
  clientAbort,
  sendMeta,
  streamFailure,
} from '#modules/gateway/controllers/openai_http'
import type { ApiKeyPrincipal } from '#modules/gateway/services/key_auth'
import { responseStore, type ResponseOwner } from '#modules/gateway/services/response_store'
import {
  completionToResponse,
  historyMessages,
  inputToMessages,
  parseResponseId,
  referencedItemIds,
  responseShell,
  ResponseStreamTranslator,
  toChatParams,
  type ChatMessage,
  type OutputItem,
  type StreamEvent,
} from '#modules/gateway/services/responses'
import { gateway } from '#modules/gateway/services/service'
import { responsesValidator, sortResponsesFields } from '#modules/gateway/validators/openai'

function unsupported(field: string, message: string) {
  return new ProblemException(400, 'unsupported_parameter', message, [
    { field, rule: 'unsupported', message },
  ])
}

function responseNotFound(id: string) {
  return new ProblemException(404, 'response_not_found', `Response with id '${id}' not found.`)
}

/**
 * OpenAI's Responses API at /v1/responses, served by the alias's chat
 * deployments (translated both ways), so quotas, fallbacks and usage are
 * exactly those of /v1/chat/completions. Responses are stored for 30 days
 * unless `store: false`, for previous_response_id and item references.
 */
export default class ResponsesController {
  async create(ctx: HttpContext) {
    const key = await authenticate(ctx, 'chat')
    const body = ctx.request.body()
    const { unknown, extras } = sortResponsesFields(body)
    const input = await responsesValidator.validate(body)
    // Not even passed through: a background response is produced after this request ends,
    // where no quota or usage of Atrium's can see its tokens.
    if (input.background) {
      throw unsupported(
        'background',
        'Background responses are not available here: stream the response instead.'
      )
    }
    if (await gateway.speaksResponses(callerOf(key), input.model)) {
      return this.#passThrough(ctx, key, body as Record<string, unknown>, unknown)
    }
    if (input.conversation !== undefined && input.conversation !== null) {
      throw unsupported(
        'conversation',
        "OpenAI's Conversations API is not available here: use previous_response_id."
      )
    }
    if (input.prompt !== undefined && input.prompt !== null) {
      throw unsupported(
        'prompt',
        "Prompt templates live on OpenAI's servers: send instructions and input instead."
      )
    }

    const owner: ResponseOwner = { tenantId: key.tenantId, keyId: key.keyId }
    const store = input.store !== false
    let previousUuid: string | null = null
    let history: ChatMessage[] = []
    if (input.previous_response_id) {
      previousUuid = parseResponseId(input.previous_response_id)
      const turns = previousUuid ? await responseStore.chain(owner, previousUuid) : null
      if (!turns) throw responseNotFound(input.previous_response_id)
      history = historyMessages(turns)
    }
    const referenced = referencedItemIds(input.input)
    const references = referenced.length
      ? await responseStore.items(owner, referenced)
      : new Map<string, OutputItem>()
    const newMessages = inputToMessages(input.input, references)
    const request = toChatParams(input, history, newMessages, extras)
    const uuid = newId()
    const shell = responseShell(uuid, input, store)
    const options = {
      signal: clientAbort(ctx),
      requestId: ctx.request.id() ?? null,
      unknownParams: unknown,
    }
    const save = (response: typeof shell) =>
      responseStore.save(owner, uuid, {
        previousUuid,
        alias: input.model,
        inputMessages: newMessages,
        response,
      })

    if (!input.stream) {
      const answer = await gateway.chat(callerOf(key), request, options)
      sendMeta(ctx, answer)
      const response = completionToResponse(shell, uuid, answer.result)
      if (store) await save(response)
      return response
    }

    const answer = await gateway.chatStream(callerOf(key), request, options)
    sendMeta(ctx, answer)
    const events = sse(ctx)
    const translator = new ResponseStreamTranslator(uuid, shell)
    const send = async (list: StreamEvent[]) => {
      for (const event of list) await events.send(event, { event: event.type })
    }
    void (async () => {
      try {
        await send(translator.start())
        for await (const chunk of answer.result) await send(translator.push(chunk))
        const { events: closing, response } = translator.finish()
        await send(closing)
        // Stored before the client hears it is complete: its next request may build on it at once.
        if (store) await save(response)
        await send([translator.completed(response)])
      } catch (error) {
        if (!options.signal.aborted) {
          const { code, message } = streamFailure(error)
          await send(translator.failed(code, message))
        }
      } finally {
        events.close()
      }
    })().catch((error) => ctx.logger.error({ err: error }, 'stream not settled'))
  }

  /**
   * The alias's providers all have their own Responses API: the request goes
   * to them as sent (hosted tools, reasoning items and their stored responses
   * included) and their answer comes back with the alias as `model`.
   */
  async #passThrough(
    ctx: HttpContext,
    key: ApiKeyPrincipal,
    body: Record<string, unknown>,
    unknown: string[]
  ) {
    const request = body as Record<string, unknown> & { model: string }
    const options = {
      signal: clientAbort(ctx),
      requestId: ctx.request.id() ?? null,
      unknownParams: unknown,
    }
    if (!request.stream) {
      const answer = await gateway.responses(callerOf(key), request, options)
      sendMeta(ctx, answer)
      return answer.result
    }
    const answer = await gateway.responsesStream(callerOf(key), request, options)
    sendMeta(ctx, answer)
    const events = sse(ctx)
    void (async () => {
      try {
        for await (const { event, data } of answer.result) {
          await events.send(data, { event: event ?? (data.type as string | undefined) })
        }
      } catch (error) {
        if (!options.signal.aborted) {
          const { code, message } = streamFailure(error)
          await events.send({ type: 'error', code, message, param: null }, { event: 'error' })
        }
      } finally {
        events.close()
      }
    })().catch((error) => ctx.logger.error({ err: error }, 'stream not settled'))
  }

  async show(ctx: HttpContext) {
    const key = await authenticate(ctx, 'chat')
    const uuid = parseResponseId(ctx.params.id)
    const response = uuid
      ? await responseStore.find({ tenantId: key.tenantId, keyId: key.keyId }, uuid)
      : null
    if (!response) throw responseNotFound(ctx.params.id)
    return response
  }

  async destroy(ctx: HttpContext) {
    const key = await authenticate(ctx, 'chat')
    const uuid = parseResponseId(ctx.params.id)
    const deleted = uuid
      ? await responseStore.remove({ tenantId: key.tenantId, keyId: key.keyId }, uuid)
      : false
    if (!deleted) throw responseNotFound(ctx.params.id)
    return { id: ctx.params.id, object: 'response', deleted: true }
  }
}
