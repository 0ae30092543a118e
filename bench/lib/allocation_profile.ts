/**
 * What a server allocates while `load` runs, by V8's sampling heap profiler
 * over the inspector protocol (the server runs with `--inspect=<port>`),
 * objects that were collected since included — so the figure is everything
 * a request made, not what survived it. Bytes a request are sampled (one
 * sample every `intervalBytes` on average), and they hardly move with the
 * machine's speed, unlike CPU time: two builds compare on a noisy machine.
 */
export async function sampleAllocations(
  inspectorPort: number,
  load: () => Promise<number>,
  intervalBytes = 1024
): Promise<{ requests: number; profile: SamplingHeapProfile }> {
  const listing = await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)
  const targets = (await listing.json()) as Array<{ webSocketDebuggerUrl: string }>
  const socket = new WebSocket(targets[0].webSocketDebuggerUrl)
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true })
    socket.addEventListener('error', reject, { once: true })
  })
  let lastId = 0
  const waiting = new Map<number, (result: unknown) => void>()
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown }
    if (message.id !== undefined) waiting.get(message.id)?.(message.result)
  })
  const call = <T>(method: string, params: object = {}) =>
    new Promise<T>((resolve) => {
      const id = ++lastId
      waiting.set(id, resolve as (result: unknown) => void)
      socket.send(JSON.stringify({ id, method, params }))
    })
  try {
    await call('HeapProfiler.enable')
    await call('HeapProfiler.startSampling', {
      samplingInterval: intervalBytes,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    })
    const requests = await load()
    const { profile } = await call<{ profile: SamplingHeapProfile }>('HeapProfiler.stopSampling')
    return { requests, profile }
  } finally {
    socket.close()
  }
}

export interface SamplingHeapProfile {
  head: SamplingNode
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number }
  selfSize: number
  children: SamplingNode[]
}

/** Prints bytes a request by package and by function, then the heaviest call paths. */
export function printAllocations(profile: SamplingHeapProfile, requests: number, top = 25) {
  const byPackage = new Map<string, number>()
  const byFunction = new Map<string, number>()
  const byPath = new Map<string, number>()
  let total = 0
  const add = (map: Map<string, number>, key: string, bytes: number) =>
    map.set(key, (map.get(key) ?? 0) + bytes)
  const visit = (node: SamplingNode, callers: string[]) => {
    const frame = node.callFrame
    const name = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}:${frame.lineNumber + 1}`
    if (node.selfSize > 0) {
      total += node.selfSize
      add(byPackage, packageOf(frame.url), node.selfSize)
      add(byFunction, name, node.selfSize)
      add(byPath, [name, ...callers.slice(0, 4)].join('\n      < '), node.selfSize)
    }
    for (const child of node.children) visit(child, [name, ...callers])
  }
  visit(profile.head, [])
  const perRequest = (bytes: number) => bytes / requests
  console.log(
    `\n${requests} requests: ${(perRequest(total) / 1024).toFixed(1)} KiB allocated a request`
  )
  const list = (title: string, map: Map<string, number>, count: number) => {
    console.log(`\n${title}`)
    for (const [key, bytes] of [...map].sort((a, b) => b[1] - a[1]).slice(0, count)) {
      console.log(`${perRequest(bytes).toFixed(0).padStart(7)} B  ${key}`)
    }
  }
  list('bytes a request by package', byPackage, 12)
  list('by function', byFunction, top)
  list('heaviest call paths', byPath, 10)
}

function shortUrl(url: string) {
  return url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/build\//, '')
}

function packageOf(url: string) {
  if (url.includes('node_modules/')) {
    return /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? url
  }
  if (url.startsWith('node:')) return 'node core'
  if (url.startsWith('file:')) return 'atrium'
  // No file: V8's builtins, native code, and functions made by `new Function` (VineJS's validators).
  return '(no file)'
}
