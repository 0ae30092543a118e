/*
| Writing an answer's JSON, side by side in one run: AdonisJS's default
| serializer (`safeStringify`: safe-stable-stringify walking the value in
| JavaScript) versus Atrium's (`serializeJsonBody` in app/http/json_body.ts:
| V8's native JSON.stringify, the safe way only when that throws). Every
| answer of every module is written by one of them. The bodies are real
| shapes: ping's, a /v1 chat completion, a problem, and a page of 50
| conversations as `Conversation.serialize()` gives them (luxon DateTimes,
| written through their toJSON). Each body's two texts are checked equal first.
|
|   npm run bench:json     (BENCH_CALLS=20000 per round, 5 alternating rounds)
*/
import { DateTime } from 'luxon'
import { safeStringify } from '@poppinss/utils/json'
import { serializeJsonBody } from '#app/http/json_body'
import { printTable, writeResults } from './lib/report.js'

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000)
const ROUNDS = 5

const uuid = (index: number) => `0193a6f2-7c1e-7d3a-9b4e-${String(index).padStart(12, '0')}`
const now = DateTime.utc()

const bodies: Record<string, unknown> = {
  'ping': { pong: true, time: new Date().toISOString() },
  '/v1 chat completion': {
    id: 'chatcmpl-0193a6f27c1e7d3a9b4e',
    object: 'chat.completion',
    created: 1_764_576_000,
    model: 'bench-model',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'pong', refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 9, completion_tokens: 1, total_tokens: 10 },
    system_fingerprint: null,
  },
  'problem (422)': {
    type: 'https://atrium.dev/problems/validation_failed',
    title: 'Unprocessable Content',
    status: 422,
    code: 'validation_failed',
    detail: 'The input is not valid.',
    instance: '/api/v1/chat/conversations',
    requestId: uuid(1),
    errors: [{ field: 'title', rule: 'maxLength', message: 'At most 200 characters.' }],
  },
  'page of 50 conversations': {
    data: Array.from({ length: 50 }, (_, index) => ({
      activeLeafId: uuid(index + 100),
      archivedAt: null,
      assistantId: index % 3 === 0 ? uuid(7) : null,
      createdAt: now.minus({ minutes: index }),
      id: uuid(index),
      pinned: index % 5 === 0,
      title: `Conversation about the quarterly plan, part ${index}`,
      updatedAt: now.minus({ seconds: index }),
      userId: uuid(3),
    })),
    nextCursor: 'eyJrIjpbIjIwMjYtMTItMDFUMDg6MDA6MDAuMDAwWiIsIjAxOTMiXX0',
  },
}

const serializers = {
  'AdonisJS default (safeStringify)': (value: unknown) => safeStringify(value),
  'Atrium (native, safe on throw)': serializeJsonBody,
}

for (const [name, body] of Object.entries(bodies)) {
  const texts = Object.values(serializers).map((serialize) => serialize(body))
  if (new Set(texts).size !== 1) throw new Error(`${name}: the serializers disagree`)
}

function measure(serialize: (value: unknown) => string | undefined, body: unknown) {
  let length = 0
  const cpuBefore = process.cpuUsage()
  for (let index = 0; index < CALLS; index++) length += serialize(body)?.length ?? 0
  const cpu = process.cpuUsage(cpuBefore)
  if (length === 0) throw new Error('nothing written')
  return (cpu.user + cpu.system) / CALLS
}

const results: Array<{ body: string; serializer: string; cpuMicrosPerCall: number }> = []
for (const [bodyName, body] of Object.entries(bodies)) {
  const rounds = new Map<string, number[]>()
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, serialize] of Object.entries(serializers)) {
      rounds.set(name, [...(rounds.get(name) ?? []), measure(serialize, body)])
    }
  }
  for (const [name, figures] of rounds) {
    const sorted = [...figures].sort((a, b) => a - b)
    results.push({
      body: bodyName,
      serializer: name,
      cpuMicrosPerCall: Math.round(sorted[Math.floor(ROUNDS / 2)] * 100) / 100,
    })
  }
}

console.log(`${CALLS} calls per round, ${ROUNDS} alternating rounds, median CPU per call\n`)
printTable(
  ['body', 'serializer', 'µs per call'],
  results.map((row) => [row.body, row.serializer, row.cpuMicrosPerCall])
)
const file = await writeResults('json', {
  date: new Date().toISOString().slice(0, 10),
  calls: CALLS,
  rounds: ROUNDS,
  results,
})
console.log(`\nwrote ${file}`)
