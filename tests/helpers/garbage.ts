import v8 from 'node:v8'
import vm from 'node:vm'

v8.setFlagsFromString('--expose-gc')
const collectGarbage = vm.runInNewContext('gc') as () => void

/**
 * Two full collections with a turn of the event loop between: whatever is
 * unreachable then is gone, so a WeakRef still holding its target proves
 * something keeps it.
 */
export async function settleGarbage() {
  for (let pass = 0; pass < 2; pass++) {
    await new Promise((resolve) => setImmediate(resolve))
    collectGarbage()
  }
}

/**
 * Collects garbage until `ref`'s target is gone, for at most `withinMs`;
 * says whether it went. Waiting is needed even when nothing of the code under
 * test holds the target: Node's HTTP server caches the Date header for the
 * rest of the current second, and the timer that clears that cache is made in
 * the async context of whichever request answered first in that second, so it
 * holds that request (its HttpContext, through AsyncLocalStorage) for up to a
 * second (`resetCache` in node's lib/internal/http.js).
 */
export async function collectedWithin(ref: WeakRef<object>, withinMs = 2_000) {
  const deadline = performance.now() + withinMs
  for (;;) {
    await settleGarbage()
    if (ref.deref() === undefined) return true
    if (performance.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
