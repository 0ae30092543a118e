// What V8's GC profiler saw over a stretch (v8.GCProfiler's stop()), summarised: shared by
// bench/lib/gc_stats.mjs (preloaded into a server) and benches that profile in process.
// Plain JS, so it loads the same into the built and the TypeScript server.

const spaceUsed = (heap, name) =>
  heap.heapSpaceStatistics.find((space) => space.spaceName === name)?.spaceUsedSize ?? 0

export function summariseGc({ startTime, endTime, statistics }) {
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
