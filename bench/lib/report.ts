import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { availableParallelism, cpus } from 'node:os'
import { APP_ROOT } from './processes.js'

/**
 * Writes a bench's JSON, with the machine it ran on: the same code's ratios
 * moved between two machines of the same kind (ping ÷ bare node:http 0.29 on
 * one, 0.45–0.53 on another), so a figure is read with its CPU.
 */
export async function writeResults(name: string, data: Record<string, unknown>) {
  const dir = join(APP_ROOT, 'bench', 'results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `${name}.json`)
  const machine = { cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: availableParallelism() }
  await writeFile(file, JSON.stringify({ ...data, machine }, null, 2) + '\n')
  return file
}

/** Prints rows as an aligned text table. */
export function printTable(headers: string[], rows: Array<Array<string | number>>) {
  const cells = [headers, ...rows.map((row) => row.map(String))]
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => row[column].length)))
  const line = (row: string[]) => row.map((cell, column) => cell.padEnd(widths[column])).join('  ')
  console.log(line(headers))
  console.log(widths.map((width) => '-'.repeat(width)).join('  '))
  for (const row of cells.slice(1)) console.log(line(row))
}

/**
 * The run with the median figure of several: on a shared machine one run can
 * land in a slow or a fast spell, so a ratio's two sides are measured in
 * alternating rounds and each side reports its median run (with every
 * round's figure kept beside it).
 */
export function medianRun<T>(runs: T[], figureOf: (run: T) => number): T & { rounds: number[] } {
  const sorted = [...runs].sort((a, b) => figureOf(a) - figureOf(b))
  return { ...sorted[Math.floor((sorted.length - 1) / 2)], rounds: runs.map(figureOf) }
}

/**
 * A path's rate ÷ the baseline's, round by round (each pair measured back to
 * back, in the same spell of the machine), and the median of those ratios.
 */
export function ratiosByRound<T>(path: T[], baseline: T[], rateOf: (run: T) => number) {
  const ratios = path.map(
    (run, index) => Math.round((rateOf(run) / rateOf(baseline[index])) * 100) / 100
  )
  const sorted = [...ratios].sort((a, b) => a - b)
  return { vsBaseline: sorted[Math.floor((sorted.length - 1) / 2)], roundRatios: ratios }
}

/** What one round of a micro-bench measured: wall and CPU time per call, in µs. */
export interface CallTimes {
  microsPerCall: number
  cpuMicrosPerCall: number
}

/** Wall and CPU time of `calls` calls of `call` (given the call's index), per call. */
export function timeCalls(calls: number, call: (index: number) => unknown): CallTimes {
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  for (let index = 0; index < calls; index++) call(index)
  const elapsed = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  return {
    microsPerCall: (elapsed * 1000) / calls,
    cpuMicrosPerCall: (cpu.user + cpu.system) / calls,
  }
}

/**
 * Measures every variant once a round, in turn, for `rounds` rounds after one
 * more that warms the JIT and is not counted: each variant's rounds, by name.
 */
export async function alternatingRounds<V, R>(
  variants: Record<string, V>,
  measure: (variant: V) => R | Promise<R>,
  rounds: number
) {
  const runs: Record<string, R[]> = {}
  for (let round = 0; round <= rounds; round++) {
    for (const [name, variant] of Object.entries(variants)) {
      const result = await measure(variant)
      if (round > 0) (runs[name] ??= []).push(result)
    }
  }
  return runs
}

/** Each variant's median round, then the table of them (`label` names what one call is). */
export function summariseCallTimes(runs: Record<string, CallTimes[]>, label: string) {
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
  const summary: Record<string, CallTimes> = Object.fromEntries(
    Object.entries(runs).map(([name, results]) => [
      name,
      {
        microsPerCall: median(results.map((run) => run.microsPerCall)),
        cpuMicrosPerCall: median(results.map((run) => run.cpuMicrosPerCall)),
      },
    ])
  )
  printTable(
    ['variant', `µs per ${label} (median)`, `CPU µs per ${label}`],
    Object.entries(summary).map(([name, row]) => [
      name,
      row.microsPerCall.toFixed(3),
      row.cpuMicrosPerCall.toFixed(3),
    ])
  )
  return summary
}
