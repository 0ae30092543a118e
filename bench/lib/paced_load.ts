import { Pool } from 'undici'

/**
 * Load at a fixed rate, paced: request i is sent at start + i / rate whatever
 * the answers before it did (an open loop, as independent clients arrive), on
 * a pool of keep-alive connections, and timed from the moment it was sent —
 * so a slow answer shows as itself and as the queue behind it when every
 * connection is busy, and the client's own late timers do not count.
 *
 * autocannon's `overallRate` cannot measure this: it sends each second's
 * quota back to back and then idles until the next second (200 "per second"
 * arrive in ~55 ms), and it corrects for coordinated omission with an expected
 * interval of `Math.ceil(1 / rate)` — 1 ms at any rate above 1/s, where 5 ms
 * was meant at 200/s — so every answer slower than 1 ms adds made-up samples
 * below it, and a path with a 1 ms median gets a p99 a millisecond or two
 * worse than it measured (autocannon 8.0.0, lib/httpClient.js and run.js).
 */
export async function pacedLoad(options: {
  url: string
  headers: Record<string, string>
  body: string
  rate: number
  seconds: number
  /** Enough that a stall of connections × (1000 / rate) ms queues nothing (40 ms at 200/s). */
  connections?: number
  /**
   * Seconds at the same rate, on the same connections, before the measured
   * ones and not counted: the connections a round measures are the ones its
   * lead-in opened, as a client's pool of a running service would be, and
   * the server has answered that rate before the first measured request.
   */
  leadInSeconds?: number
}): Promise<PacedSamples> {
  const target = new URL(options.url)
  const pool = new Pool(target.origin, { connections: options.connections ?? 8 })
  const leadIn = Math.round(options.rate * (options.leadInSeconds ?? 0))
  const count = leadIn + Math.round(options.rate * options.seconds)
  const latencies: number[] = []
  let non2xx = 0
  let errors = 0
  const inFlight: Array<Promise<void>> = []
  const send = async (counted: boolean) => {
    const sent = performance.now()
    try {
      const answer = await pool.request({
        path: target.pathname,
        method: 'POST',
        headers: { 'content-type': 'application/json', ...options.headers },
        body: options.body,
      })
      await answer.body.text()
      if (!counted) return
      latencies.push(performance.now() - sent)
      if (answer.statusCode < 200 || answer.statusCode > 299) non2xx++
    } catch {
      if (counted) errors++
    }
  }
  const begun = performance.now()
  let measuredFrom = begun
  for (let index = 0; index < count; index++) {
    const due = begun + (index * 1000) / options.rate
    const wait = due - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    if (index === leadIn) measuredFrom = performance.now()
    inFlight.push(send(index >= leadIn))
  }
  await Promise.all(inFlight)
  const seconds = (performance.now() - measuredFrom) / 1000
  await pool.close()
  return { latencies, non2xx, errors, seconds }
}

export interface PacedSamples {
  latencies: number[]
  non2xx: number
  errors: number
  seconds: number
}

/** Several runs of one path (rounds interleaved with other paths) as one row: samples pooled. */
export function pacedRow(name: string, runs: PacedSamples[]) {
  const sorted = runs.flatMap((run) => run.latencies).sort((a, b) => a - b)
  // Nearest rank: the smallest sample with at least this share of the samples at or below it.
  const at = (share: number) =>
    round(sorted[Math.max(0, Math.ceil(share * sorted.length) - 1)] ?? Number.NaN)
  const seconds = runs.reduce((sum, run) => sum + run.seconds, 0)
  return {
    name,
    requestsPerSecond: Math.round(sorted.length / seconds),
    samples: sorted.length,
    p50: at(0.5),
    p99: at(0.99),
    p999: at(0.999),
    max: round(sorted.at(-1) ?? Number.NaN),
    non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
  }
}

export type PacedRow = ReturnType<typeof pacedRow>

const round = (milliseconds: number) => Math.round(milliseconds * 100) / 100
