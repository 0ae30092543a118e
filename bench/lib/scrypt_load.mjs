// What a burst of logins does to resident memory outside the JS heap: HASHES scrypt
// hashes with config/hash.ts's parameters, CONCURRENCY at a time on libuv's pool,
// then prints the process's RSS in MiB. bench:memory runs it with glibc's default
// malloc settings and with Atrium's (MALLOC_MMAP_THRESHOLD_), side by side.
import { scrypt } from 'node:crypto'
import { promisify } from 'node:util'

const hash = promisify(scrypt)
const HASHES = Number(process.env.HASHES ?? 96)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8)
const before = process.memoryUsage().rss
for (let done = 0; done < HASHES; done += CONCURRENCY) {
  await Promise.all(
    Array.from({ length: CONCURRENCY }, (_, index) =>
      hash(`password ${done + index}`, `salt ${done + index}`, 64, {
        N: 16384,
        r: 8,
        p: 1,
        maxmem: 33554432,
      })
    )
  )
}
const mib = (bytes) => Math.round((bytes / 1048576) * 10) / 10
console.log(JSON.stringify({ rssBeforeMiB: mib(before), rssAfterMiB: mib(process.memoryUsage().rss) }))
