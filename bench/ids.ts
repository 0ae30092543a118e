/*
| Id generation, side by side in one run: uuid's v7() as Atrium called it
| (crypto.getRandomValues for each id's 16 random bytes) versus newId() (the
| same UUIDv7 layout and monotonic counter, its random bytes drawn 4 KiB at
| a time). Every insert takes an id; an event through the bus takes four or
| five.
|
|   npm run bench:ids     (BENCH_IDS=500000 per round, 5 alternating rounds)
*/
import { v7 as uuidv7 } from 'uuid'
import { newId } from '#app/platform/ids'
import { printTable, writeResults } from './lib/report.js'

const COUNT = Number(process.env.BENCH_IDS ?? 500_000)
const ROUNDS = 5

const variants = {
  'uuid v7(), bytes per id (before)': () => uuidv7(),
  'newId(), pooled bytes (now)': () => newId(),
}
type Variant = keyof typeof variants

function measure(make: () => string) {
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  let last = ''
  for (let index = 0; index < COUNT; index++) last = make()
  const elapsed = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  if (last.length !== 36) throw new Error('not an id')
  return {
    microsPerId: (elapsed * 1000) / COUNT,
    // System time: the kernel's share (getrandom), small beside WebCrypto's own checks.
    systemMicrosPerId: cpu.system / COUNT,
  }
}

const runs = Object.fromEntries(
  Object.keys(variants).map((name) => [name, [] as Array<ReturnType<typeof measure>>])
) as Record<Variant, Array<ReturnType<typeof measure>>>
// The first round warms the JIT and is not counted.
for (let round = 0; round <= ROUNDS; round++) {
  for (const name of Object.keys(variants) as Variant[]) {
    const result = measure(variants[name])
    if (round > 0) runs[name].push(result)
  }
}
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const summary = Object.fromEntries(
  (Object.keys(runs) as Variant[]).map((name) => [
    name,
    {
      microsPerId: median(runs[name].map((run) => run.microsPerId)),
      systemMicrosPerId: median(runs[name].map((run) => run.systemMicrosPerId)),
    },
  ])
) as Record<Variant, { microsPerId: number; systemMicrosPerId: number }>
printTable(
  ['variant', 'µs per id (median)', 'of which kernel µs'],
  Object.entries(summary).map(([name, row]) => [
    name,
    row.microsPerId.toFixed(3),
    row.systemMicrosPerId.toFixed(3),
  ])
)
const ratio =
  summary['uuid v7(), bytes per id (before)'].microsPerId /
  summary['newId(), pooled bytes (now)'].microsPerId
console.log(`newId() is ${ratio.toFixed(1)}× faster`)
const file = await writeResults('ids', { count: COUNT, rounds: ROUNDS, summary, ratio })
console.log(`wrote ${file}`)
