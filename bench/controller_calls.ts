/*
| A route's controller call, side by side in one run: AdonisJS's handler (the
| container makes a new controller and looks up the method's dependencies on
| every request) versus the same handler after `callDirectly`
| (app/http/direct_calls.ts: the class looked up once, a new instance per
| request made without the container). Every request makes three such calls:
| the server's and the router's kernel middleware, and its controller (the
| middleware handlers are built the same way). A controller's size does not
| change either: the container's `Function.toString` is a slice of the source, so a
| controller as long as the OpenAI controller's costs what a small one does.
|
|   npm run bench:controllers     (BENCH_CALLS=200000 per round, 5 alternating rounds)
*/
import { readFile } from 'node:fs/promises'
import { Container, moduleImporter } from '@adonisjs/fold'
import { callDirectly } from '#app/http/direct_calls'
import { APP_ROOT } from './lib/processes.js'
import { alternatingRounds, summariseCallTimes, writeResults } from './lib/report.js'

const CALLS = Number(process.env.BENCH_CALLS ?? 200_000)
const ROUNDS = 5

/** The OpenAI controller's source length, from its TypeScript (the built JS is a little shorter). */
const openAiSource = await readFile(
  `${APP_ROOT}modules/gateway/controllers/openai_controller.ts`,
  'utf8'
)
const largeSourceLength = openAiSource.length

/** A controller class whose source text is about `length` characters. */
function controllerOfLength(length: number) {
  const filler = Array.from(
    { length: Math.ceil(length / 60) },
    (_, index) => `  unused${index}(ctx) { return ctx.request.input('x${index}') }\n`
  ).join('')
  // A class from source, so that its toString is as long as a real controller's.
  return new Function(
    `return class SizedController {\n  show(ctx) { return { ok: ctx.n } }\n${filler}}`
  )() as new () => { show(ctx: { n: number }): unknown }
}

const controllers = {
  small: controllerOfLength(0),
  [`${largeSourceLength} characters`]: controllerOfLength(largeSourceLength),
}

const container = new Container()
type Handler = ReturnType<ReturnType<typeof moduleImporter>['toHandleMethod']>

/** The handler object AdonisJS's router builds for `[() => import(…), 'show']`. */
function adonisHandler(controller: unknown) {
  const lazy = async () => ({ default: controller })
  return {
    method: 'show',
    reference: [lazy, 'show'],
    importExpression: String(lazy),
    ...moduleImporter(lazy as never, 'show').toHandleMethod(),
  }
}

async function measure(handler: Handler) {
  const ctx = { n: 1 }
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  for (let index = 0; index < CALLS; index++) {
    // A resolver per request, as the router gives each request.
    await handler.handle(container.createResolver() as never, ctx as never)
  }
  const elapsed = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  return {
    microsPerCall: (elapsed * 1000) / CALLS,
    cpuMicrosPerCall: (cpu.user + cpu.system) / CALLS,
  }
}

const variants: Record<string, Handler> = {}
for (const [size, controller] of Object.entries(controllers)) {
  variants[`${size}: container (AdonisJS)`] = adonisHandler(controller)
  const direct = adonisHandler(controller)
  callDirectly(direct as never)
  variants[`${size}: direct (Atrium)`] = direct
}

// The first round also makes the direct handlers' first call.
const runs = await alternatingRounds(variants, measure, ROUNDS)
const summary = summariseCallTimes(runs, 'call')
const saved = Object.fromEntries(
  Object.keys(controllers).map((size) => [
    size,
    summary[`${size}: container (AdonisJS)`].microsPerCall -
      summary[`${size}: direct (Atrium)`].microsPerCall,
  ])
)
for (const [size, micros] of Object.entries(saved)) {
  console.log(`${size}: the direct call saves ${micros.toFixed(2)} µs per request`)
}
const file = await writeResults('controller_calls', {
  calls: CALLS,
  rounds: ROUNDS,
  largeSourceLength,
  summary,
  savedMicrosPerRequest: saved,
})
console.log(`wrote ${file}`)
