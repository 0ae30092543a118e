/*
| Summarises a V8 CPU profile (.cpuprofile, from BENCH_CPU_PROF=<dir>): the
| functions with the most self time, and self time grouped by package, so a
| bench's bottleneck can be quoted in a note without opening DevTools.
|
|   node --import=@poppinss/ts-exec bench/lib/profile_summary.ts <file.cpuprofile> [top=25]
*/
import { readFile } from 'node:fs/promises'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount: number
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

const [file, topArgument] = process.argv.slice(2)
if (!file) {
  console.error('usage: profile_summary.ts <file.cpuprofile> [top]')
  process.exit(2)
}
const top = Number(topArgument ?? 25)
const profile = JSON.parse(await readFile(file, 'utf8')) as Profile

// Self time per node: each sample's delta belongs to the node that was on top.
const selfMicros = new Map<number, number>()
profile.samples.forEach((nodeId, index) => {
  selfMicros.set(nodeId, (selfMicros.get(nodeId) ?? 0) + (profile.timeDeltas[index] ?? 0))
})
const total = [...selfMicros.values()].reduce((sum, value) => sum + value, 0)
const byFunction = new Map<string, number>()
const byPackage = new Map<string, number>()
for (const node of profile.nodes) {
  const micros = selfMicros.get(node.id) ?? 0
  if (micros === 0) continue
  const { functionName, url, lineNumber } = node.callFrame
  const where = url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '')
  const name = `${functionName || '(anonymous)'} ${where ? `${where}:${lineNumber + 1}` : ''}`
  byFunction.set(name, (byFunction.get(name) ?? 0) + micros)
  byPackage.set(packageOf(url), (byPackage.get(packageOf(url)) ?? 0) + micros)
}

function packageOf(url: string) {
  if (!url) return '(native / V8)'
  if (url.startsWith('node:')) return 'node core'
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  return match ? match[1] : 'atrium'
}

const percent = (micros: number) => `${((micros / total) * 100).toFixed(1)}%`
const print = (title: string, entries: Map<string, number>, limit: number) => {
  console.log(`\n${title}`)
  for (const [name, micros] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    console.log(`${percent(micros).padStart(6)}  ${name}`)
  }
}
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`)
print('self time by package', byPackage, 15)
print(`top ${top} functions by self time`, byFunction, top)
