// Preloaded into a server by bench/gc.ts (node --import): SIGUSR2 starts V8's GC profiler,
// the next SIGUSR2 stops it and writes a summary of the collections in between to the file
// named by BENCH_GC_STATS. Plain JS, so it loads the same into the built and the TypeScript server.
import v8 from 'node:v8'
import { writeFileSync } from 'node:fs'

let profiler = null

const spaceUsed = (heap, name) =>
  heap.heapSpaceStatistics.find((space) => space.spaceName === name)?.spaceUsedSize ?? 0

function summarise({ startTime, endTime, statistics }) {
  const seconds = (endTime - startTime) / 1000
  const of = (type) => statistics.filter((entry) => entry.gcType === type)
  const scavenges = of('Scavenge')
  const fullCollections = of('MarkSweepCompact')
  // The profiler reports each collection's cost in microseconds.
  const pauseMs = (list) => list.reduce((sum, entry) => sum + entry.cost / 1000, 0)
  const promoted = scavenges.reduce(
    (sum, entry) =>
      sum + spaceUsed(entry.afterGC, 'old_space') - spaceUsed(entry.beforeGC, 'old_space'),
    0
  )
  const survived = scavenges.reduce((sum, entry) => sum + spaceUsed(entry.afterGC, 'new_space'), 0)
  const round = (value) => Math.round(value * 100) / 100
  return {
    seconds: round(seconds),
    scavengesPerSecond: round(scavenges.length / seconds),
    msPerScavenge: round(pauseMs(scavenges) / Math.max(1, scavenges.length)),
    promotedKiBPerScavenge: Math.round(promoted / Math.max(1, scavenges.length) / 1024),
    survivedKiBPerScavenge: Math.round(survived / Math.max(1, scavenges.length) / 1024),
    fullCollectionsPerSecond: round(fullCollections.length / seconds),
    gcPauseMsPerSecond: round(pauseMs(statistics) / seconds),
  }
}

process.on('SIGUSR2', () => {
  if (!profiler) {
    profiler = new v8.GCProfiler()
    profiler.start()
    return
  }
  const data = profiler.stop()
  profiler = null
  writeFileSync(process.env.BENCH_GC_STATS, JSON.stringify(summarise(data)))
})
