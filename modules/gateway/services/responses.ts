/*
| OpenAI's Responses API in terms of chat completions. Upstreams (Ollama and
| most OpenAI-compatible servers) speak chat completions; /v1/responses is
| translated both ways here, so quotas, fallbacks and usage are the chat
| path's. Pure functions and one stream translator: no I/O.
*/
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions'
import { ProblemException } from '#app/http/problem'
import type { ChatParams, Usage } from '#modules/gateway/services/upstreams'

export type ChatMessage = ChatParams['messages'][number]
type AssistantMessage = Extract<ChatMessage, { role: 'assistant' }>
type ToolCall = NonNullable<AssistantMessage['tool_calls']>[number]
type Json = Record<string, unknown>

/** The fields of a /v1/responses request Atrium reads (validated by the caller). */
export interface ResponsesRequest {
  model: string
  input: string | Json[]
  instructions?: string | null
  max_output_tokens?: number | null
  temperature?: number | null
  top_p?: number | null
  tools?: Json[]
  tool_choice?: unknown
  parallel_tool_calls?: boolean | null
  store?: boolean | null
  previous_response_id?: string | null
  metadata?: Record<string, string> | null
  text?: { format?: Json; verbosity?: string | null } | null
  reasoning?: { effort?: string | null; summary?: string | null } | null
  user?: string
  top_logprobs?: number | null
  truncation?: string | null
}

export interface OutputMessage {
  type: 'message'
  id: string
  status: 'completed' | 'in_progress' | 'incomplete'
  role: 'assistant'
  content: Array<{ type: 'output_text'; text: string; annotations: unknown[]; logprobs: unknown[] }>
}

export interface OutputFunctionCall {
  type: 'function_call'
  id: string
  call_id: string
  name: string
  arguments: string
  status: 'completed' | 'in_progress' | 'incomplete'
}

export type OutputItem = OutputMessage | OutputFunctionCall

export interface ResponseObject {
  id: string
  object: 'response'
  created_at: number
  completed_at: number | null
  status: 'completed' | 'incomplete' | 'in_progress' | 'failed'
  error: { code: string; message: string } | null
  incomplete_details: { reason: 'max_output_tokens' | 'content_filter' } | null
  instructions: string | null
  max_output_tokens: number | null
  model: string
  output: OutputItem[]
  parallel_tool_calls: boolean
  previous_response_id: string | null
  reasoning: { effort: string | null; summary: string | null }
  store: boolean
  temperature: number | null
  text: { format: Json; verbosity?: string | null }
  tool_choice: unknown
  tools: Json[]
  top_p: number | null
  truncation: string
  usage: ResponseUsage | null
  user: string | null
  metadata: Record<string, string>
}

export interface ResponseUsage {
  input_tokens: number
  input_tokens_details: { cached_tokens: number }
  output_tokens: number
  output_tokens_details: { reasoning_tokens: number }
  total_tokens: number
}

/*
 * Ids: a response is `resp_<32 hex>` (its row's uuid); its output items are
 * `msg_<same hex>_<index>` and `fc_<same hex>_<index>`, so an item reference
 * names the stored response it came from — no table of items.
 */
export const responseId = (uuid: string) => `resp_${uuid.replaceAll('-', '')}`

const HEX_UUID = /^[0-9a-f]{32}$/

function uuidOf(hex: string) {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** The row uuid of `resp_…`, or null when it is not one of ours. */
export function parseResponseId(id: string): string | null {
  const match = /^resp_([0-9a-f]{32})$/.exec(id)
  return match ? uuidOf(match[1]) : null
}

/** The stored response and index an output item id points at, or null. */
export function parseItemId(id: string): { responseUuid: string; index: number } | null {
  const match = /^(?:msg|fc)_([0-9a-f]{32})_(\d{1,4})$/.exec(id)
  if (!match || !HEX_UUID.test(match[1])) return null
  return { responseUuid: uuidOf(match[1]), index: Number(match[2]) }
}

const itemId = (kind: 'msg' | 'fc', uuid: string, index: number) =>
  `${kind}_${uuid.replaceAll('-', '')}_${index}`

function invalid(param: string, message: string) {
  return new ProblemException(400, 'invalid_request', message, [
    { field: param, rule: 'invalid', message },
  ])
}

function unsupported(param: string, message: string) {
  return new ProblemException(400, 'unsupported_parameter', message, [
    { field: param, rule: 'unsupported', message },
  ])
}

/** A content part's text, or the image it carries; files and others are refused with their path. */
function contentParts(content: unknown, path: string) {
  if (typeof content === 'string') return { text: content, parts: null }
  if (!Array.isArray(content)) throw invalid(path, `${path} must be a string or a list of parts.`)
  const parts: Array<
    | { type: 'text'; text: string }
    | { type: 'image_url'; image_url: { url: string; detail?: 'auto' | 'low' | 'high' } }
  > = []
  for (const [index, part] of content.entries()) {
    const where = `${path}[${index}]`
    const type = (part as Json)?.type
    if (type === 'input_text' || type === 'output_text' || type === 'text') {
      const text = (part as Json).text
      if (typeof text !== 'string')
        throw invalid(`${where}.text`, `${where}.text must be a string.`)
      parts.push({ type: 'text', text })
    } else if (type === 'refusal') {
      parts.push({ type: 'text', text: String((part as Json).refusal ?? '') })
    } else if (type === 'input_image') {
      const url = (part as Json).image_url
      if (typeof url !== 'string') {
        throw unsupported(
          where,
          `${where}: images are accepted as image_url (a URL or a data: URL); file_id needs OpenAI's Files API, which this gateway does not have.`
        )
      }
      const detail = (part as Json).detail
      parts.push({
        type: 'image_url',
        image_url: {
          url,
          ...(detail === 'low' || detail === 'high' || detail === 'auto' ? { detail } : {}),
        },
      })
    } else {
      throw unsupported(
        where,
        `${where}: content of type ${JSON.stringify(type)} is not supported here (text and images are).`
      )
    }
  }
  const onlyText = parts.every((part) => part.type === 'text')
  return onlyText
    ? { text: parts.map((part) => (part as { text: string }).text).join(''), parts: null }
    : { text: null, parts }
}

/** Output items of a stored response, in chat terms (an assistant turn with its tool calls). */
function outputToMessages(items: OutputItem[]): ChatMessage[] {
  const messages: ChatMessage[] = []
  for (const item of items) appendOutputItem(messages, item)
  return messages
}

function appendOutputItem(messages: ChatMessage[], item: OutputItem) {
  if (item.type === 'message') {
    const text = item.content.map((part) => part.text).join('')
    messages.push({ role: 'assistant', content: text })
    return
  }
  appendToolCall(messages, {
    id: item.call_id,
    type: 'function',
    function: { name: item.name, arguments: item.arguments },
  })
}

/** Tool calls of one turn belong to one assistant message, as chat completions wants them. */
function appendToolCall(messages: ChatMessage[], call: ToolCall) {
  const last = messages.at(-1)
  if (last?.role === 'assistant') {
    last.tool_calls = [...(last.tool_calls ?? []), call]
    return
  }
  messages.push({ role: 'assistant', content: null, tool_calls: [call] })
}

/**
 * The request's input as chat messages. `references` holds the stored output
 * items the input refers to (item_reference), already checked to be this
 * key's; an unknown reference is a 400.
 */
export function inputToMessages(
  input: ResponsesRequest['input'],
  references: Map<string, OutputItem>
): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }]
  const messages: ChatMessage[] = []
  for (const [index, item] of input.entries()) {
    const path = `input[${index}]`
    const type = item.type ?? 'message'
    if (type === 'message') {
      const role = item.role
      const { text, parts } = contentParts(item.content, `${path}.content`)
      if (role === 'user') {
        messages.push({ role: 'user', content: parts ?? text ?? '' })
      } else if (role === 'system' || role === 'developer') {
        if (parts)
          throw unsupported(`${path}.content`, `${path}: a ${role} message takes text only.`)
        messages.push({ role, content: text ?? '' })
      } else if (role === 'assistant') {
        if (parts)
          throw unsupported(`${path}.content`, `${path}: an assistant message takes text only.`)
        messages.push({ role: 'assistant', content: text ?? '' })
      } else {
        throw invalid(`${path}.role`, `${path}.role must be user, assistant, system or developer.`)
      }
    } else if (type === 'function_call') {
      const { call_id: callId, name, arguments: args } = item
      if (typeof callId !== 'string' || typeof name !== 'string' || typeof args !== 'string') {
        throw invalid(path, `${path}: a function_call needs call_id, name and arguments (strings).`)
      }
      appendToolCall(messages, {
        id: callId,
        type: 'function',
        function: { name, arguments: args },
      })
    } else if (type === 'function_call_output') {
      const { call_id: callId, output } = item
      if (typeof callId !== 'string') {
        throw invalid(`${path}.call_id`, `${path}: a function_call_output needs its call_id.`)
      }
      const content =
        typeof output === 'string' ? output : contentParts(output, `${path}.output`).text
      if (content === null) {
        throw unsupported(`${path}.output`, `${path}: a function's output must be text here.`)
      }
      messages.push({ role: 'tool', tool_call_id: callId, content })
    } else if (type === 'item_reference') {
      const referenced = typeof item.id === 'string' ? references.get(item.id) : undefined
      if (!referenced) {
        throw new ProblemException(
          404,
          'item_not_found',
          `${path}: no stored item ${JSON.stringify(item.id)} for this key (stored responses are kept 30 days; store: false keeps none).`
        )
      }
      appendOutputItem(messages, referenced)
    } else if (type === 'reasoning') {
      // Reasoning items carry the provider's own state; chat completions has no place for them.
      continue
    } else {
      throw unsupported(
        `${path}.type`,
        `${path}: items of type ${JSON.stringify(type)} are not supported here (message, function_call, function_call_output, item_reference and reasoning are).`
      )
    }
  }
  return messages
}

/** Item ids the input refers to, to load before translating. */
export function referencedItemIds(input: ResponsesRequest['input']) {
  if (typeof input === 'string') return []
  return input
    .filter((item) => item.type === 'item_reference' && typeof item.id === 'string')
    .map((item) => item.id as string)
}

/** A stored response's place in a conversation: what it was sent new, and what it answered. */
export interface StoredTurn {
  inputMessages: ChatMessage[]
  output: OutputItem[]
}

/** The conversation before this request, oldest turn first (previous_response_id's chain). */
export function historyMessages(turns: StoredTurn[]): ChatMessage[] {
  return turns.flatMap((turn) => [...turn.inputMessages, ...outputToMessages(turn.output)])
}

function chatTools(tools: Json[] | undefined): ChatParams['tools'] {
  if (!tools?.length) return undefined
  return tools.map((tool, index) => {
    if (tool.type !== 'function') {
      throw unsupported(
        `tools[${index}]`,
        `tools[${index}]: ${JSON.stringify(tool.type)} is one of OpenAI's hosted tools; through this gateway only function tools are available.`
      )
    }
    if (typeof tool.name !== 'string') {
      throw invalid(`tools[${index}].name`, `tools[${index}].name is required.`)
    }
    return {
      type: 'function' as const,
      function: {
        name: tool.name,
        ...(typeof tool.description === 'string' ? { description: tool.description } : {}),
        ...(tool.parameters ? { parameters: tool.parameters as Json } : {}),
        ...(typeof tool.strict === 'boolean' ? { strict: tool.strict } : {}),
      },
    }
  })
}

function chatToolChoice(choice: unknown): ChatParams['tool_choice'] {
  if (choice === undefined || choice === null) return undefined
  if (choice === 'auto' || choice === 'none' || choice === 'required') return choice
  const picked = choice as Json
  if (picked.type === 'function' && typeof picked.name === 'string') {
    return { type: 'function', function: { name: picked.name } }
  }
  throw unsupported('tool_choice', 'tool_choice must be auto, none, required or a function.')
}

function chatResponseFormat(format: Json | undefined): ChatParams['response_format'] {
  if (!format || format.type === 'text') return undefined
  if (format.type === 'json_object') return { type: 'json_object' }
  if (format.type === 'json_schema') {
    if (typeof format.name !== 'string' || typeof format.schema !== 'object') {
      throw invalid('text.format', 'text.format json_schema needs a name and a schema.')
    }
    return {
      type: 'json_schema',
      json_schema: {
        name: format.name,
        schema: format.schema as Json,
        ...(typeof format.strict === 'boolean' ? { strict: format.strict } : {}),
        ...(typeof format.description === 'string' ? { description: format.description } : {}),
      },
    }
  }
  throw unsupported('text.format', `text.format ${JSON.stringify(format.type)} is not supported.`)
}

/**
 * The chat request a /v1/responses request becomes: instructions as the
 * system message, then the history and the new input; the extras (fields
 * forwarded as they came) travel along.
 */
export function toChatParams(
  request: ResponsesRequest,
  history: ChatMessage[],
  newMessages: ChatMessage[],
  extras: Json
): ChatParams & { model: string } {
  const messages: ChatMessage[] = []
  if (request.instructions) messages.push({ role: 'system', content: request.instructions })
  messages.push(...history, ...newMessages)
  if (!messages.length) throw invalid('input', 'input is empty.')
  const params: Json = {
    ...extras,
    model: request.model,
    messages,
  }
  const set = (name: string, value: unknown) => {
    if (value !== undefined && value !== null) params[name] = value
  }
  set('max_tokens', request.max_output_tokens)
  set('temperature', request.temperature)
  set('top_p', request.top_p)
  set('tools', chatTools(request.tools))
  set('tool_choice', chatToolChoice(request.tool_choice))
  set('parallel_tool_calls', request.parallel_tool_calls)
  set('response_format', chatResponseFormat(request.text?.format))
  set('verbosity', request.text?.verbosity)
  set('reasoning_effort', request.reasoning?.effort)
  set('user', request.user)
  if (typeof request.top_logprobs === 'number' && request.top_logprobs > 0) {
    params.logprobs = true
    params.top_logprobs = request.top_logprobs
  }
  // Validated field by field above; the SDK's union type cannot follow a built object.
  return params as unknown as ChatParams & { model: string }
}

export function responseUsage(usage: Usage | null | undefined): ResponseUsage | null {
  if (!usage) return null
  const details = usage as Usage & {
    prompt_tokens_details?: { cached_tokens?: number }
    completion_tokens_details?: { reasoning_tokens?: number }
  }
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: details.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: usage.completion_tokens,
    output_tokens_details: {
      reasoning_tokens: details.completion_tokens_details?.reasoning_tokens ?? 0,
    },
    total_tokens: usage.prompt_tokens + usage.completion_tokens,
  }
}

/** The response object before its output: what the request asked for, echoed as OpenAI does. */
export function responseShell(
  uuid: string,
  request: ResponsesRequest,
  stored: boolean
): ResponseObject {
  return {
    id: responseId(uuid),
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    completed_at: null,
    status: 'in_progress',
    error: null,
    incomplete_details: null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    model: request.model,
    output: [],
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    reasoning: { effort: request.reasoning?.effort ?? null, summary: null },
    store: stored,
    temperature: request.temperature ?? null,
    text: {
      format: request.text?.format ?? { type: 'text' },
      ...(request.text?.verbosity ? { verbosity: request.text.verbosity } : {}),
    },
    tool_choice: request.tool_choice ?? 'auto',
    tools: request.tools ?? [],
    top_p: request.top_p ?? null,
    truncation: request.truncation ?? 'disabled',
    usage: null,
    user: request.user ?? null,
    metadata: request.metadata ?? {},
  }
}

function finishStatus(reason: string | null | undefined) {
  if (reason === 'length')
    return { status: 'incomplete' as const, reason: 'max_output_tokens' as const }
  if (reason === 'content_filter') {
    return { status: 'incomplete' as const, reason: 'content_filter' as const }
  }
  return { status: 'completed' as const, reason: null }
}

/** A whole chat completion as the finished response. */
export function completionToResponse(
  shell: ResponseObject,
  uuid: string,
  completion: ChatCompletion
): ResponseObject {
  const choice = completion.choices[0]
  const output: OutputItem[] = []
  const finished = finishStatus(choice?.finish_reason)
  const itemStatus = finished.status === 'incomplete' ? 'incomplete' : 'completed'
  const text = choice?.message?.content ?? ''
  const calls = choice?.message?.tool_calls ?? []
  if (text || !calls.length) {
    output.push({
      type: 'message',
      id: itemId('msg', uuid, output.length),
      status: itemStatus,
      role: 'assistant',
      content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
    })
  }
  for (const call of calls) {
    if (call.type !== 'function') continue
    output.push({
      type: 'function_call',
      id: itemId('fc', uuid, output.length),
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
      status: 'completed',
    })
  }
  return {
    ...shell,
    status: finished.status,
    completed_at: Math.floor(Date.now() / 1000),
    incomplete_details: finished.reason ? { reason: finished.reason } : null,
    output,
    usage: responseUsage(completion.usage),
  }
}

export interface StreamEvent {
  type: string
  sequence_number: number
  [field: string]: unknown
}

/**
 * Turns chat chunks into the Responses API's typed events, in order:
 * response.created, then per output item its added / delta / done events,
 * then response.completed (or incomplete) with the whole response.
 */
export class ResponseStreamTranslator {
  #sequence = 0
  #response: ResponseObject
  #text: { item: OutputMessage; index: number; text: string } | null = null
  #calls = new Map<number, { item: OutputFunctionCall; index: number }>()
  #output: OutputItem[] = []
  #finishReason: string | null = null
  #usage: Usage | null = null

  constructor(
    private uuid: string,
    shell: ResponseObject
  ) {
    this.#response = shell
  }

  #event(type: string, fields: Json): StreamEvent {
    return { type, sequence_number: this.#sequence++, ...fields }
  }

  start(): StreamEvent[] {
    const response = { ...this.#response }
    return [
      this.#event('response.created', { response }),
      this.#event('response.in_progress', { response }),
    ]
  }

  push(chunk: ChatCompletionChunk): StreamEvent[] {
    const events: StreamEvent[] = []
    if (chunk.usage) this.#usage = chunk.usage
    const choice = chunk.choices[0]
    if (!choice) return events
    if (choice.finish_reason) this.#finishReason = choice.finish_reason
    const delta = choice.delta ?? {}
    if (delta.content) events.push(...this.#textDelta(delta.content))
    for (const call of delta.tool_calls ?? []) events.push(...this.#callDelta(call))
    return events
  }

  #textDelta(text: string): StreamEvent[] {
    const events: StreamEvent[] = []
    if (!this.#text) {
      const index = this.#output.length
      const item: OutputMessage = {
        type: 'message',
        id: itemId('msg', this.uuid, index),
        status: 'in_progress',
        role: 'assistant',
        content: [],
      }
      this.#output.push(item)
      this.#text = { item, index, text: '' }
      events.push(
        this.#event('response.output_item.added', { output_index: index, item: { ...item } }),
        this.#event('response.content_part.added', {
          item_id: item.id,
          output_index: index,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
        })
      )
    }
    this.#text.text += text
    events.push(
      this.#event('response.output_text.delta', {
        item_id: this.#text.item.id,
        output_index: this.#text.index,
        content_index: 0,
        delta: text,
        logprobs: [],
      })
    )
    return events
  }

  #callDelta(call: ChatCompletionChunk.Choice.Delta.ToolCall): StreamEvent[] {
    const events: StreamEvent[] = []
    let open = this.#calls.get(call.index)
    if (!open) {
      const index = this.#output.length
      const item: OutputFunctionCall = {
        type: 'function_call',
        id: itemId('fc', this.uuid, index),
        call_id: call.id ?? `call_${this.uuid.replaceAll('-', '').slice(0, 16)}_${call.index}`,
        name: call.function?.name ?? '',
        arguments: '',
        status: 'in_progress',
      }
      this.#output.push(item)
      open = { item, index }
      this.#calls.set(call.index, open)
      events.push(
        this.#event('response.output_item.added', { output_index: index, item: { ...item } })
      )
    }
    const fragment = call.function?.arguments
    if (fragment) {
      open.item.arguments += fragment
      events.push(
        this.#event('response.function_call_arguments.delta', {
          item_id: open.item.id,
          output_index: open.index,
          delta: fragment,
        })
      )
    }
    return events
  }

  /** Closes every open item and builds the finished response (also what is stored). */
  finish(): { events: StreamEvent[]; response: ResponseObject } {
    const events: StreamEvent[] = []
    const finished = finishStatus(this.#finishReason)
    const itemStatus = finished.status === 'incomplete' ? 'incomplete' : 'completed'
    for (const item of this.#output) {
      const index = this.#output.indexOf(item)
      if (item.type === 'message') {
        const text = this.#text?.text ?? ''
        const part = { type: 'output_text' as const, text, annotations: [], logprobs: [] }
        item.content = [part]
        item.status = itemStatus
        events.push(
          this.#event('response.output_text.done', {
            item_id: item.id,
            output_index: index,
            content_index: 0,
            text,
            logprobs: [],
          }),
          this.#event('response.content_part.done', {
            item_id: item.id,
            output_index: index,
            content_index: 0,
            part,
          })
        )
      } else {
        item.status = 'completed'
        events.push(
          this.#event('response.function_call_arguments.done', {
            item_id: item.id,
            output_index: index,
            name: item.name,
            arguments: item.arguments,
          })
        )
      }
      events.push(this.#event('response.output_item.done', { output_index: index, item }))
    }
    const response: ResponseObject = {
      ...this.#response,
      status: finished.status,
      completed_at: Math.floor(Date.now() / 1000),
      incomplete_details: finished.reason ? { reason: finished.reason } : null,
      output: this.#output,
      usage: responseUsage(this.#usage),
    }
    return { events, response }
  }

  /** The event that ends the stream once the response is stored. */
  completed(response: ResponseObject): StreamEvent {
    return this.#event(
      response.status === 'incomplete' ? 'response.incomplete' : 'response.completed',
      { response }
    )
  }

  /** A failure after the stream started: an error event, then response.failed. */
  failed(code: string, message: string): StreamEvent[] {
    const response: ResponseObject = {
      ...this.#response,
      status: 'failed',
      error: { code, message },
      output: this.#output,
      usage: responseUsage(this.#usage),
    }
    return [
      this.#event('error', { code, message, param: null }),
      this.#event('response.failed', { response }),
    ]
  }
}
