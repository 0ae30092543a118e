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
