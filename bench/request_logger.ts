/*
| A request's logger, side by side in one run: what AdonisJS makes for every
| request (`logger.child({ request_id })`, which serialises the binding through
| config/logger.ts's redaction paths) versus Atrium's RequestLogger
| (app/http/request_logger.ts, a child made on the first line at an enabled
| level) — for a request that logs nothing, the usual case at the default
| level, and for one that logs a line.
|
|   npm run bench:request-logger    (BENCH_CALLS=200000 per round, 5 alternating rounds)
*/
import { Writable } from 'node:stream'
import { Logger } from '@adonisjs/core/logger'
import type { HttpRequest } from '@adonisjs/core/http'
import { LOG_REDACTION } from '#app/platform/log_stream'
import { RequestLogger } from '#app/http/request_logger'
import { alternatingRounds, summariseCallTimes, timeCalls, writeResults } from './lib/report.js'

const CALLS = Number(process.env.BENCH_CALLS ?? 200_000)
const ROUNDS = 5

/** The application's logger as config/logger.ts makes it (level warn, redaction), writing nowhere. */
const nowhere = new Writable({ write: (_chunk, _encoding, done) => done() })
const app = new Logger({
  enabled: true,
  name: 'atrium',
  level: 'warn',
  redact: LOG_REDACTION,
  destination: nowhere,
})
const shared = { enabled: app.isEnabled, level: app.level }
const request = { id: () => '5f0c2b8e-1a7d-4c3e-9b6f-2d8e0a4c7b19' } as unknown as HttpRequest

const variants: Record<string, () => unknown> = {
  'logs nothing: pino child (AdonisJS)': () => app.child({ request_id: request.id() }),
  'logs nothing: RequestLogger (Atrium)': () => new RequestLogger(app, shared, request),
  'one warn line: pino child (AdonisJS)': () =>
    app.child({ request_id: request.id() }).warn('slow upstream'),
  'one warn line: RequestLogger (Atrium)': () =>
    new RequestLogger(app, shared, request).warn('slow upstream'),
}

/** Kept so the loop's loggers are not optimised away. */
const kept: unknown[] = new Array(1024)

const runs = await alternatingRounds(
  variants,
  (make) => timeCalls(CALLS, (index) => (kept[index & 1023] = make())),
  ROUNDS
)
const summary = summariseCallTimes(runs, 'request')
const saved =
  summary['logs nothing: pino child (AdonisJS)'].microsPerCall -
  summary['logs nothing: RequestLogger (Atrium)'].microsPerCall
console.log(`a request that logs nothing: RequestLogger saves ${saved.toFixed(2)} µs`)
await writeResults('request-logger', {
  callsPerRound: CALLS,
  rounds: ROUNDS,
  summary,
  savedMicrosPerQuietRequest: saved,
})
