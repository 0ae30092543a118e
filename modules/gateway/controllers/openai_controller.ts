import type { HttpContext } from '@adonisjs/core/http'
import type { DateTime } from 'luxon'
import { ProblemException } from '#app/http/problem'
import { sse } from '#app/http/sse'
import { keyResolver, type ApiKeyPrincipal } from '#modules/gateway/services/key_auth'
import type { Scope } from '#modules/gateway/services/keys'
import { listModels, type Caller } from '#modules/gateway/services/gateway'
import { gateway } from '#modules/gateway/services/service'
import type { ChatParams } from '#modules/gateway/services/upstreams'
import {
  chatCompletionValidator,
  embeddingsValidator,
  refuseUnknownFields,
} from '#modules/gateway/validators/openai'

const OVERHEAD_HEADER = 'x-atrium-overhead-ms'

async function authenticate(ctx: HttpContext, scope: Scope): Promise<ApiKeyPrincipal> {
  const match = /^Bearer\s+(\S+)$/i.exec(ctx.request.header('authorization') ?? '')
  if (!match) {
    throw new ProblemException(
      401,
      'invalid_api_key',
      'No API key provided: send it as "Authorization: Bearer atr_…".'
    )
  }
  const key = await keyResolver.resolve(match[1])
  if (!key) throw new ProblemException(401, 'invalid_api_key', 'Incorrect API key provided.')
  if (!key.scopes.includes(scope)) {
    throw new ProblemException(403, 'insufficient_scope', `This key lacks the "${scope}" scope.`)
  }
  return key
}

const callerOf = (key: ApiKeyPrincipal): Caller => ({
  tenantId: key.tenantId,
  userId: key.userId,
  keyId: key.keyId,
  allowedModels: key.allowedModels,
  limits: key.limits,
})

/** Aborts the upstream call when the client goes away before the answer is complete. */
function clientAbort(ctx: HttpContext) {
  const controller = new AbortController()
  const response = ctx.response.response
  response.once('close', () => {
    if (!response.writableFinished) controller.abort()
  })
  return controller.signal
}

/** Quota state and Atrium's own time, on every answer. */
function sendMeta(
  ctx: HttpContext,
  answer: { rateLimit: Record<string, string>; overheadMs: number }
) {
  for (const [name, value] of Object.entries(answer.rateLimit)) ctx.response.header(name, value)
  ctx.response.header(OVERHEAD_HEADER, answer.overheadMs.toFixed(2))
}

export default class OpenAiController {
  async chatCompletions(ctx: HttpContext) {
    const key = await authenticate(ctx, 'chat')
    const body = ctx.request.body()
    refuseUnknownFields(body, 'chat')
    const input = await chatCompletionValidator.validate(body)
    const { stream, stream_options: streamOptions, ...rest } = input
    // Validated above; the SDK's parameter type is wider than what the validator produces.
    const request = rest as unknown as ChatParams & { model: string }
    const options = { signal: clientAbort(ctx), requestId: ctx.request.id() ?? null }

    if (!stream) {
      const answer = await gateway.chat(callerOf(key), request, options)
      sendMeta(ctx, answer)
      return answer.result
    }

    const answer = await gateway.chatStream(callerOf(key), request, options)
    const includeUsage = Boolean(streamOptions?.include_usage)
    sendMeta(ctx, answer)
    const events = sse(ctx)
    void (async () => {
      try {
        for await (const chunk of answer.result) {
          if (!includeUsage && chunk.choices.length === 0) continue
          const sent = includeUsage
            ? { ...chunk, usage: chunk.usage ?? null }
            : { ...chunk, usage: undefined }
          await events.send(sent)
        }
        await events.send('[DONE]')
      } catch (error) {
        if (!options.signal.aborted) {
          const problem = error instanceof ProblemException ? error : null
          await events.send({
            error: {
              message: problem?.message ?? 'The stream failed.',
              type: 'server_error',
              param: null,
              code: problem?.problemCode ?? 'stream_failed',
            },
          })
        }
      } finally {
        events.close()
      }
    })().catch((error) => ctx.logger.error({ err: error }, 'stream not settled'))
  }

  async embeddings(ctx: HttpContext) {
    const key = await authenticate(ctx, 'embeddings')
    const body = ctx.request.body()
    refuseUnknownFields(body, 'embeddings')
    const input = await embeddingsValidator.validate(body)
    const answer = await gateway.embed(
      callerOf(key),
      { model: input.model, input: input.input },
      { signal: clientAbort(ctx), requestId: ctx.request.id() ?? null }
    )
    sendMeta(ctx, answer)
    const { embeddings, promptTokens } = answer.result
    return {
      object: 'list',
      data: embeddings.map((embedding, index) => ({
        object: 'embedding',
        index,
        // The OpenAI SDK asks for base64 (little-endian float32) and decodes it itself.
        embedding:
          input.encoding_format === 'base64'
            ? Buffer.from(new Float32Array(embedding).buffer).toString('base64')
            : embedding,
      })),
      model: input.model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    }
  }

  async models(ctx: HttpContext) {
    const key = await authenticate(ctx, 'models')
    const models = await listModels(callerOf(key))
    return { object: 'list', data: models.map(presentModel) }
  }

  async model(ctx: HttpContext) {
    const key = await authenticate(ctx, 'models')
    const models = await listModels(callerOf(key))
    const found = models.find((model) => model.alias === ctx.params.model)
    if (!found) {
      throw new ProblemException(
        404,
        'model_not_found',
        `The model ${ctx.params.model} does not exist.`
      )
    }
    return presentModel(found)
  }
}

function presentModel(model: { alias: string; createdAt: DateTime }) {
  return {
    id: model.alias,
    object: 'model',
    created: Math.floor(model.createdAt.toSeconds()),
    owned_by: 'atrium',
  }
}
