import v8 from 'node:v8'

/**
 * How far V8 lets the old generation grow past the live set before its next
 * full collection. Its default adapts to the allocation rate and reaches 4×
 * under load: a server with ~60 MiB live sat at ~480 MiB RSS after
 * bench:gateway. At 1.5× it stays near 300 MiB for a few percent of
 * throughput (issue #12; `npm run bench:memory`, side by side). V8 reads it
 * at every collection, so setting it at start-up takes effect; the young
 * generation's size (--max-semi-space-size) is fixed at start-up and is set
 * on the command line (package.json's start, the Dockerfile).
 */
const HEAP_GROWING_PERCENT = 50

/**
 * V8's allocation-site pretenuring off. When most objects from one object or
 * array literal outlive a scavenge while the young generation is at its
 * largest, V8 decides to allocate that literal's objects in the old
 * generation from then on, and the decision sticks. Under gateway load some
 * of the request path's literals qualify, and each object then allocated
 * old points at the young objects of its request: young objects referenced
 * from the old generation survive every scavenge until the next full
 * collection, whether the old object is still in use or not. So whole
 * requests were copied twice and promoted — ~2.8 MB per scavenge where
 * ~0.4 MB is live, a scavenge of 7–9 ms instead of 2–4 and a full collection
 * about every second (`npm run bench:gc`, side by side). What a server
 * allocates under load mostly dies young, and what lives on (a cache entry,
 * a pooled connection) is still promoted after two scavenges, as before.
 * V8 makes these decisions during collections and checks the flag there,
 * so setting it at start-up, before any load, is enough.
 */
const PRETENURING_OFF = '--no-allocation-site-pretenuring'

/**
 * Applies the server's V8 settings at start-up (`startHttpServer`). An
 * operator's own flag on the command line wins: e.g. `node
 * --allocation-site-pretenuring bin/server.js` keeps V8's default.
 */
export function tuneV8ForServing(execArgv: readonly string[] = process.execArgv) {
  const given = (flag: string) =>
    execArgv.some((arg) => arg.replace(/_/g, '-').startsWith(`--${flag}`))
  if (!given('heap-growing-percent'))
    v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  if (!given('allocation-site-pretenuring') && !given('no-allocation-site-pretenuring'))
    v8.setFlagsFromString(PRETENURING_OFF)
}
