import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertProblem } from '#tests/helpers/openapi'
import { FIXTURE_PREFIX, FIXTURE_TABLE, createFixtureTable } from '#tests/fixtures/routes'
import { encodeCursor } from '#app/http/pagination'
import { newId } from '#app/platform/ids'

const widgets = `${FIXTURE_PREFIX}/widgets`

async function seed(count: number) {
  // Same created_at for groups of rows, so the id tie-breaker is exercised.
  const base = Date.parse('2026-01-01T00:00:00Z')
  const rows = Array.from({ length: count }, (_, index) => ({
    id: newId(),
    name: `widget-${index}`,
    quantity: index,
    created_at: new Date(base + Math.floor(index / 3) * 1000),
  }))
  await db.table(FIXTURE_TABLE).multiInsert(rows)
  return rows
}

test.group('cursor pagination', (group) => {
  group.each.setup(() => createFixtureTable())

  test('walks every row exactly once, newest first, with ties broken by id', async ({
    client,
    assert,
  }) => {
    const rows = await seed(31)
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const request = client.get(widgets).qs({ limit: 10 })
      if (cursor) request.qs({ limit: 10, cursor })
      const response = await request
      response.assertStatus(200)
      assert.isAtMost(response.body().data.length, 10)
      seen.push(...response.body().data.map((row: { id: string }) => row.id))
      cursor = response.body().meta.nextCursor
      pages++
    } while (cursor && pages < 10)

    assert.equal(pages, 4)
    const expected = [...rows]
      .sort((a, b) => b.created_at.getTime() - a.created_at.getTime() || (a.id < b.id ? 1 : -1))
      .map((row) => row.id)
    assert.deepEqual(seen, expected)
  })

  test('default limit is 25 and the last page has a null cursor', async ({ client, assert }) => {
    await seed(26)
    const first = await client.get(widgets)
    assert.lengthOf(first.body().data, 25)
    assert.isString(first.body().meta.nextCursor)
    const second = await client.get(widgets).qs({ cursor: first.body().meta.nextCursor })
    assert.lengthOf(second.body().data, 1)
    assert.isNull(second.body().meta.nextCursor)
  })

  test('an empty table answers an empty page', async ({ client, assert }) => {
    const response = await client.get(widgets)
    response.assertStatus(200)
    assert.deepEqual(response.body(), { data: [], meta: { nextCursor: null } })
  })

  for (const [label, qs, field] of [
    ['limit 0', { limit: 0 }, 'limit'],
    ['limit 101', { limit: 101 }, 'limit'],
    ['limit not a number', { limit: 'ten' }, 'limit'],
    ['limit with decimals', { limit: 2.5 }, 'limit'],
    ['cursor not base64 JSON', { cursor: '!!!not-a-cursor' }, 'cursor'],
    ['cursor of another shape', { cursor: Buffer.from('{"a":1}').toString('base64url') }, 'cursor'],
    ['cursor with two keys on an id-only list', { cursor: encodeCursor(['x', newId()]) }, 'cursor'],
    ['cursor with a non-uuid id', { cursor: encodeCursor(["1' OR 1=1"]) }, 'cursor'],
    ['cursor too long', { cursor: 'a'.repeat(600) }, 'cursor'],
  ] as const) {
    test(`bad input → 422 naming the field: ${label}`, async ({ client, assert }) => {
      const response = await client.get(widgets).qs(qs)
      assertProblem(response, 422, 'validation_failed')
      assert.equal(response.body().errors[0].field, field)
    })
  }
})
