// Preloaded into a server by bench/gc.ts (node --import): SIGUSR2 starts V8's GC profiler,
// the next SIGUSR2 stops it and writes a summary of the collections in between to the file
// named by BENCH_GC_STATS. Plain JS, so it loads the same into the built and the TypeScript server.
import v8 from 'node:v8'
import { writeFileSync } from 'node:fs'
import { summariseGc } from './gc_summary.mjs'

let profiler = null

process.on('SIGUSR2', () => {
  if (!profiler) {
    profiler = new v8.GCProfiler()
    profiler.start()
    return
  }
  const data = profiler.stop()
  profiler = null
  writeFileSync(process.env.BENCH_GC_STATS, JSON.stringify(summariseGc(data)))
})
