import type { HttpContext } from '@adonisjs/core/http'
import type { DateTime } from 'luxon'
import { ProblemException } from '#app/http/problem'
import { sse } from '#app/http/sse'
import { listModels } from '#modules/gateway/services/gateway'
import {
  authenticate,
  callerOf,
  clientAbort,
  sendMeta,
  streamFailure,
} from '#modules/gateway/controllers/openai_http'
import { gateway } from '#modules/gateway/services/service'
import type { ChatParams } from '#modules/gateway/services/upstreams'
import {
  chatCompletionValidator,
  completionsValidator,
  embeddingsValidator,
  sortCompletionsFields,
  refuseUnknownEmbeddingFields,
  sortChatFields,
} from '#modules/gateway/validators/openai'

export default class OpenAiController {
  async chatCompletions(ctx: HttpContext) {
    const key = await authenticate(ctx, 'chat')
    const body = ctx.request.body()
    const { unknown, extras } = sortChatFields(body)
    const input = await chatCompletionValidator.validate(body)
    const { stream, stream_options: streamOptions, ...rest } = input
    // Validated above (extras are the provider's to judge); the SDK's type is wider than the validator's.
    const request = { ...extras, ...rest } as unknown as ChatParams & { model: string }
    const options = {
      signal: clientAbort(ctx),
      requestId: ctx.request.id() ?? null,
      unknownParams: unknown,
    }

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
          const { code, message } = streamFailure(error)
          await events.send({ error: { message, type: 'server_error', param: null, code } })
        }
      } finally {
        events.close()
      }
    })().catch((error) => ctx.logger.error({ err: error }, 'stream not settled'))
  }

  /**
   * Legacy text completions, served by the alias's chat deployments: the
   * prompt is sent as one user message (what chat-only providers offer).
   * max_tokens defaults to 16, as OpenAI's does.
   */
  async completions(ctx: HttpContext) {
    const key = await authenticate(ctx, 'chat')
    const body = ctx.request.body()
    const { unknown, extras } = sortCompletionsFields(body)
    const input = await completionsValidator.validate(body)
    if (input.suffix) {
      throw new ProblemException(
        400,
        'unsupported_parameter',
        'suffix (insertion) is not available: completions are served by chat models here.'
      )
    }
    if (input.logprobs) {
      throw new ProblemException(
        400,
        'unsupported_parameter',
        'logprobs is not available on /v1/completions here: use /v1/chat/completions with logprobs: true.'
      )
    }
    const { prompt: prompts, echo, stream, stream_options: streamOptions, ...rest } = input
    // Handled here (refused above, or always 1); never forwarded.
    delete rest.suffix
    delete rest.best_of
    delete rest.logprobs
    const prompt = Array.isArray(prompts) ? prompts[0] : prompts
    // Validated above; the SDK's parameter type is wider than what the validator produces.
    const request = {
      ...extras,
      ...rest,
      max_tokens: input.max_tokens ?? 16,
      messages: [{ role: 'user', content: prompt }],
    } as unknown as ChatParams & { model: string }
    const options = {
      signal: clientAbort(ctx),
      requestId: ctx.request.id() ?? null,
      unknownParams: unknown,
    }
    const id = `cmpl-${crypto.randomUUID().replaceAll('-', '')}`
    const created = Math.floor(Date.now() / 1000)
    const choice = (text: string, finishReason: string | null) => ({
      text,
      index: 0,
      logprobs: null,
      finish_reason: finishReason === 'tool_calls' ? 'stop' : finishReason,
    })

    if (!stream) {
      const answer = await gateway.chat(callerOf(key), request, options)
      sendMeta(ctx, answer)
      const reply = answer.result.choices[0]
      const text = reply?.message?.content ?? ''
      return {
        id,
        object: 'text_completion',
        created,
        model: input.model,
        choices: [choice(echo ? prompt + text : text, reply?.finish_reason ?? 'stop')],
        usage: answer.result.usage,
      }
    }

    const answer = await gateway.chatStream(callerOf(key), request, options)
    const includeUsage = Boolean(streamOptions?.include_usage)
    sendMeta(ctx, answer)
    const events = sse(ctx)
    const base = { id, object: 'text_completion', created, model: input.model }
    void (async () => {
      try {
        if (echo) await events.send({ ...base, choices: [choice(prompt, null)] })
        for await (const chunk of answer.result) {
          const part = chunk.choices[0]
          if (part && (part.delta?.content || part.finish_reason)) {
            await events.send({
              ...base,
              choices: [choice(part.delta?.content ?? '', part.finish_reason ?? null)],
              ...(includeUsage ? { usage: null } : {}),
            })
          }
          if (includeUsage && chunk.usage) {
            await events.send({ ...base, choices: [], usage: chunk.usage })
          }
        }
        await events.send('[DONE]')
      } catch (error) {
        if (!options.signal.aborted) {
          const { code, message } = streamFailure(error)
          await events.send({ error: { message, type: 'server_error', param: null, code } })
        }
      } finally {
        events.close()
      }
    })().catch((error) => ctx.logger.error({ err: error }, 'stream not settled'))
  }

  async embeddings(ctx: HttpContext) {
    const key = await authenticate(ctx, 'embeddings')
    const body = ctx.request.body()
    refuseUnknownEmbeddingFields(body)
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
