import { test } from '@japa/runner'
import { formatEvent, readEvents } from '#app/http/sse'

async function* chunks(...parts: Array<Uint8Array | string>) {
  for (const part of parts) yield part
}

async function collect(source: AsyncIterable<{ data: string; id?: string; event?: string }>) {
  const out: Array<{ data: string; id?: string; event?: string }> = []
  for await (const event of source) out.push({ data: event.data, id: event.id, event: event.event })
  return out
}

test.group('sse: writing', () => {
  test('every event carries its id; multi-line data stays inside the event', ({ assert }) => {
    assert.equal(
      formatEvent({ id: '7', event: 'delta', data: 'one\ntwo\r\nthree' }),
      'id: 7\nevent: delta\ndata: one\ndata: two\ndata: three\n\n'
    )
    assert.equal(formatEvent({ id: '1', data: '' }), 'id: 1\ndata: \n\n')
  })

  test('an id or event name cannot inject a line', ({ assert }) => {
    assert.equal(
      formatEvent({ id: '1\ndata: forged', event: 'a\rb', data: 'x' }),
      'id: 1 data: forged\nevent: a b\ndata: x\n\n'
    )
  })

  test('what we write, the reader reads back', async ({ assert }) => {
    const text =
      formatEvent({ id: '1', event: 'tick', data: 'a\nb' }) + formatEvent({ id: '2', data: '{}' })
    assert.deepEqual(await collect(readEvents(chunks(text))), [
      { data: 'a\nb', id: '1', event: 'tick' },
      { data: '{}', id: '2', event: undefined },
    ])
  })
})

test.group('sse: reading upstreams', () => {
  test('a multi-byte character split across chunks stays whole', async ({ assert }) => {
    const bytes = new TextEncoder().encode('data: {"text":"héllo — 世界 🙂"}\n\n')
    // Cut inside 'é' (2 bytes), '世' (3 bytes) and the emoji (4 bytes).
    const cuts = [10, 24, bytes.length - 5]
    const parts: Uint8Array[] = []
    let start = 0
    for (const cut of cuts) {
      parts.push(bytes.slice(start, cut))
      start = cut
    }
    parts.push(bytes.slice(start))
    const [event] = await collect(readEvents(chunks(...parts)))
    assert.equal(JSON.parse(event.data).text, 'héllo — 世界 🙂')
    assert.notInclude(event.data, '\uFFFD')
  })

  test('\\r\\n and \\r line ends separate events like \\n does', async ({ assert }) => {
    const events = await collect(
      readEvents(chunks('data: one\r\n\r\ndata: two\r\rdata: th', 'ree\n\n'))
    )
    assert.deepEqual(
      events.map((event) => event.data),
      ['one', 'two', 'three']
    )
  })

  test('comments and unknown fields are skipped; a last event without its blank line is dropped', async ({
    assert,
  }) => {
    const events = await collect(
      readEvents(chunks(': keep-alive\n\nretry: 10\ndata: real\n\ndata: unfinished'))
    )
    assert.deepEqual(
      events.map((event) => event.data),
      ['real']
    )
  })
})
