import { test } from '@japa/runner'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import env from '#start/env'
import { FIXTURE_PREFIX, sseAborts } from '#tests/fixtures/routes'
import { until } from '#tests/helpers/waiting'

const url = (query: string) => `http://127.0.0.1:${env.get('PORT')}${FIXTURE_PREFIX}/sse?${query}`

async function readAll(response: Response) {
  const text = await response.text()
  const events: EventSourceMessage[] = []
  const parser = createParser({ onEvent: (event) => events.push(event) })
  parser.feed(text)
  return { text, events }
}

test.group('sse() writer', () => {
  test('ids on every event, heartbeats while idle, headers for proxies', async ({ assert }) => {
    const response = await fetch(url('count=3&idleMs=150'))
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8')
    assert.equal(response.headers.get('x-accel-buffering'), 'no')
    assert.equal(response.headers.get('cache-control'), 'no-store, no-transform')
    const { text, events } = await readAll(response)
    assert.deepEqual(
      events.map((event) => [event.id, event.event, JSON.parse(event.data).index]),
      [
        ['1', 'tick', 1],
        ['2', 'tick', 2],
        ['3', 'tick', 3],
      ]
    )
    assert.equal(JSON.parse(events[0].data).text, 'line one\nline two')
    assert.match(text, /^: heartbeat$/m)
  })

  test('Last-Event-ID resumes after the last event the client saw', async ({ assert }) => {
    const response = await fetch(url('count=5&idleMs=0'), { headers: { 'last-event-id': '3' } })
    const { events } = await readAll(response)
    assert.deepEqual(
      events.map((event) => event.id),
      ['4', '5']
    )
  })

  test('a client that leaves aborts the stream’s signal', async ({ assert }) => {
    const before = sseAborts
    const controller = new AbortController()
    const response = await fetch(url('count=1&idleMs=60000'), { signal: controller.signal })
    const reader = response.body!.getReader()
    await reader.read()
    controller.abort()
    assert.isTrue(await until(async () => sseAborts > before, 5000), 'the server never noticed')
  })
})
