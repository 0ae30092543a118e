import { PassThrough } from 'node:stream'
import type { HttpContext } from '@adonisjs/core/http'
import { ProblemException } from '#app/http/problem'
import { keyResolver, type ApiKeyPrincipal } from '#modules/gateway/services/key_auth'
import type { Scope } from '#modules/gateway/services/keys'
import {
  chat,
  chatStream,
  embed,
  listModels,
  resolveModel,
  type Caller,
  type CallTiming,
} from '#modules/gateway/services/gateway'
import type { ChatParams, Usage } from '#modules/gateway/services/upstreams'
import {
  admit,
  DEFAULT_OUTPUT_RESERVE,
  estimatePrompt,
  estimateTokens,
  finish,
} from '#modules/gateway/services/metering'
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

const statusOf = (error: unknown) => (error instanceof ProblemException ? error.problemStatus : 500)

/** Aborts the upstream call when the client goes away before the answer is complete. */
function clientAbort(ctx: HttpContext) {
  const controller = new AbortController()
  const response = ctx.response.response
  response.once('close', () => {
    if (!response.writableFinished) controller.abort()
  })
  return controller.signal
}

function overhead(started: number, timing: CallTiming) {
  return Math.max(0, performance.now() - started - timing.upstreamMs).toFixed(2)
}

export default class OpenAiController {
  async chatCompletions(ctx: HttpContext) {
    const started = performance.now()
    const key = await authenticate(ctx, 'chat')
    const body = ctx.request.body()
    refuseUnknownFields(body, 'chat')
    const input = await chatCompletionValidator.validate(body)
    const caller = callerOf(key)
    const model = await resolveModel(caller, input.model)
    // Validated above; the SDK's parameter type is wider than what the validator produces.
    const { stream, stream_options: streamOptions, ...rest } = input
    const params = { ...rest, model: undefined } as unknown as ChatParams
    const promptEstimate = estimatePrompt(params.messages)
    const reservation = await admit(caller, model, {
      promptTokens: promptEstimate,
      maxOutput: input.max_completion_tokens ?? input.max_tokens ?? DEFAULT_OUTPUT_RESERVE,
    })
    for (const [name, value] of Object.entries(reservation.headers))
      ctx.response.header(name, value)
    const signal = clientAbort(ctx)
    const timing: CallTiming = { upstreamMs: 0 }
    const outcome = (status: number, deploymentId: string | null, tokens: [number, number]) => ({
      kind: 'chat' as const,
      deploymentId,
      promptTokens: tokens[0],
      completionTokens: tokens[1],
      status,
      latencyMs: performance.now() - started,
      upstreamMs: timing.upstreamMs,
      ttftMs: null as number | null,
      requestId: ctx.request.id() ?? null,
    })

    if (!stream) {
      try {
        const { completion, usage, deployment } = await chat(model, params, signal, timing)
        ctx.response.header(OVERHEAD_HEADER, overhead(started, timing))
        await finish(
          caller,
          model,
          reservation,
          outcome(200, deployment.id, [usage.prompt_tokens, usage.completion_tokens])
        )
        return completion
      } catch (error) {
        await finish(caller, model, reservation, outcome(statusOf(error), null, [0, 0]))
        throw error
      }
    }

    let opened
    try {
      opened = await chatStream(model, params, signal, timing)
    } catch (error) {
      await finish(caller, model, reservation, outcome(statusOf(error), null, [0, 0]))
      throw error
    }
    const { chunks, deployment } = opened
    const includeUsage = Boolean(streamOptions?.include_usage)
    const out = new PassThrough()
    ctx.response.header('content-type', 'text/event-stream; charset=utf-8')
    ctx.response.header('cache-control', 'no-cache')
    ctx.response.header('x-accel-buffering', 'no')
    // Streaming: the overhead before the first byte (auth, quotas, routing), upstream time excluded.
    ctx.response.header(OVERHEAD_HEADER, overhead(started, timing))
    ctx.response.stream(out)
    void (async () => {
      let reported: Usage | null = null
      let produced = ''
      let ttftMs: number | null = null
      let status = 200
      try {
        for await (const chunk of chunks) {
          const text = chunk.choices[0]?.delta?.content
          if (text) {
            ttftMs ??= performance.now() - started
            produced += text
          }
          if (chunk.usage) reported = chunk.usage
          if (!includeUsage && chunk.choices.length === 0) continue
          const sent = includeUsage
            ? { ...chunk, usage: chunk.usage ?? null }
            : { ...chunk, usage: undefined }
          out.write(`data: ${JSON.stringify(sent)}\n\n`)
        }
        out.write('data: [DONE]\n\n')
      } catch (error) {
        status = signal.aborted ? 499 : statusOf(error)
        if (!signal.aborted) {
          const problem = error instanceof ProblemException ? error : null
          out.write(
            `data: ${JSON.stringify({
              error: {
                message: problem?.message ?? 'The stream failed.',
                type: 'server_error',
                param: null,
                code: problem?.problemCode ?? 'stream_failed',
              },
            })}\n\n`
          )
        }
      } finally {
        out.end()
        // Only what was produced is charged: the upstream's count, or an estimate of the text sent.
        const usage: Usage = reported ?? {
          prompt_tokens: promptEstimate,
          completion_tokens: estimateTokens(produced),
          total_tokens: 0,
        }
        await finish(caller, model, reservation, {
          ...outcome(status, deployment.id, [usage.prompt_tokens, usage.completion_tokens]),
          ttftMs,
        }).catch((error) => ctx.logger.error({ err: error }, 'usage of a stream not settled'))
      }
    })()
  }

  async embeddings(ctx: HttpContext) {
    const started = performance.now()
    const key = await authenticate(ctx, 'embeddings')
    const body = ctx.request.body()
    refuseUnknownFields(body, 'embeddings')
    const input = await embeddingsValidator.validate(body)
    const caller = callerOf(key)
    const model = await resolveModel(caller, input.model)
    const texts = Array.isArray(input.input) ? input.input : [input.input]
    const reservation = await admit(caller, model, {
      promptTokens: texts.reduce((sum, text) => sum + estimateTokens(text), 0),
      maxOutput: 0,
    })
    for (const [name, value] of Object.entries(reservation.headers))
      ctx.response.header(name, value)
    const timing: CallTiming = { upstreamMs: 0 }
    const outcome = (status: number, deploymentId: string | null, promptTokens: number) => ({
      kind: 'embeddings' as const,
      deploymentId,
      promptTokens,
      completionTokens: 0,
      status,
      latencyMs: performance.now() - started,
      upstreamMs: timing.upstreamMs,
      ttftMs: null,
      requestId: ctx.request.id() ?? null,
    })
    let result
    try {
      result = await embed(model, input.input, clientAbort(ctx), timing)
    } catch (error) {
      await finish(caller, model, reservation, outcome(statusOf(error), null, 0))
      throw error
    }
    await finish(
      caller,
      model,
      reservation,
      outcome(200, result.deployment.id, result.promptTokens)
    )
    ctx.response.header(OVERHEAD_HEADER, overhead(started, timing))
    return {
      object: 'list',
      data: result.embeddings.map((embedding, index) => ({
        object: 'embedding',
        index,
        // The OpenAI SDK asks for base64 (little-endian float32) and decodes it itself.
        embedding:
          input.encoding_format === 'base64'
            ? Buffer.from(new Float32Array(embedding).buffer).toString('base64')
            : embedding,
      })),
      model: model.alias,
      usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
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

function presentModel(model: { alias: string; createdAt: string }) {
  return {
    id: model.alias,
    object: 'model',
    created: Math.floor(new Date(model.createdAt).getTime() / 1000),
    owned_by: 'atrium',
  }
}
