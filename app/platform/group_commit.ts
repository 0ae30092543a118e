/**
 * Group commit for additive writes: calls made while a write is in flight
 * are summed per key and written together when it finishes. Nothing waits
 * on a timer — alone, a call is written at once; under load, N concurrent
 * calls cost about two writes instead of N. Each call resolves when the
 * write holding its change has finished (and rejects if that write fails),
 * so callers keep "done means stored".
 */
export function groupCommit(write: (deltas: Map<string, number>) => Promise<void>) {
  let open: { deltas: Map<string, number>; written: Promise<void> } | null = null
  let previous: Promise<unknown> = Promise.resolve()

  return function add(changes: Iterable<{ key: string; delta: number }>): Promise<void> {
    if (!open) {
      const batch: { deltas: Map<string, number>; written: Promise<void> } = {
        deltas: new Map(),
        written: Promise.resolve(),
      }
      batch.written = previous.then(() => {
        // The batch closes as its write starts: later changes join the next one.
        if (open === batch) open = null
        return write(batch.deltas)
      })
      previous = batch.written.catch(() => {})
      open = batch
    }
    for (const { key, delta } of changes) {
      open.deltas.set(key, (open.deltas.get(key) ?? 0) + delta)
    }
    return open.written
  }
}

/**
 * Group call: calls made while a batch is in flight wait and go together as
 * the next batch, each answered by its own result. As with groupCommit,
 * nothing waits on a timer: alone, a call runs at once; under load N
 * concurrent calls cost about two runs. A failed run rejects exactly its
 * own batch's calls.
 */
export function groupCall<Input, Output>(run: (inputs: Input[]) => Promise<Output[]>) {
  let open: { inputs: Input[]; answered: Promise<Output[]> } | null = null
  let previous: Promise<unknown> = Promise.resolve()

  return async function call(input: Input): Promise<Output> {
    if (!open) {
      const batch: { inputs: Input[]; answered: Promise<Output[]> } = {
        inputs: [],
        answered: Promise.resolve([]),
      }
      batch.answered = previous.then(() => {
        // The batch closes as its run starts: later calls join the next one.
        if (open === batch) open = null
        return run(batch.inputs)
      })
      previous = batch.answered.catch(() => {})
      open = batch
    }
    const batch = open
    const index = batch.inputs.push(input) - 1
    const answers = await batch.answered
    return answers[index]
  }
}
