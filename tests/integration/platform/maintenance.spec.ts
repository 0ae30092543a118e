import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { runMaintenance } from '#app/platform/maintenance'
import { newId } from '#app/platform/ids'
import { NO_GROUP } from '#app/platform/turns'
import { resetIdentity } from '#tests/helpers/identity'

const past = (days: number) => new Date(Date.now() - days * 86_400_000)
const future = (days: number) => new Date(Date.now() + days * 86_400_000)

async function ids(table: string, column = 'id') {
  const rows = await db.from(table).select(column)
  return rows.map((row) => row[column] as string)
}

test.group('maintenance', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await db.rawQuery(
      'TRUNCATE idempotency_keys, rate_limits, messaging_inbox, messaging_deliveries, messaging_outbox CASCADE'
    )
  })

  test('purges what has expired and keeps the rest (and dead letters)', async ({ assert }) => {
    const key = (id: string, expires: Date) => ({
      id,
      principal: 'p',
      route: 'POST /x',
      key: id,
      request_hash: 'h',
      state: 'completed',
      locked_until: new Date(),
      expires_at: expires,
    })
    const [oldKey, newKey] = [newId(), newId()]
    await db.table('idempotency_keys').multiInsert([key(oldKey, past(1)), key(newKey, future(1))])
    await db.table('rate_limits').multiInsert([
      { key: 'old', points: 1, expire: Date.now() - 1000 },
      { key: 'new', points: 1, expire: Date.now() + 60_000 },
    ])

    const userId = newId()
    await db
      .table('identity_users')
      .insert({ id: userId, email: 'm@example.com', name: 'M', password_hash: 'x' })
    const [oldJti, newJti] = [newId(), newId()]
    await db.table('identity_revoked_access_tokens').multiInsert([
      { jti: oldJti, expires_at: past(1) },
      { jti: newJti, expires_at: future(1) },
    ])
    const refresh = (id: string, expires: Date) => ({
      id,
      family_id: newId(),
      user_id: userId,
      token_hash: id.replaceAll('-', '').padEnd(64, '0'),
      expires_at: expires,
    })
    const [oldRefresh, newRefresh] = [newId(), newId()]
    await db
      .table('identity_refresh_tokens')
      .multiInsert([refresh(oldRefresh, past(1)), refresh(newRefresh, future(1))])

    const event = (id: string, dispatchedDaysAgo: number) => ({
      id,
      type: 'test.any',
      version: 1,
      payload: '{}',
      occurred_at: past(dispatchedDaysAgo),
      dispatched_at: past(dispatchedDaysAgo),
    })
    const [oldDone, oldDead, recent] = [newId(), newId(), newId()]
    await db
      .table('messaging_outbox')
      .multiInsert([event(oldDone, 30), event(oldDead, 30), event(recent, 1)])
    await db.table('messaging_deliveries').multiInsert([
      { id: newId(), event_id: oldDone, tenant_id: NO_GROUP, subscriber: 'test.a', state: 'done' },
      { id: newId(), event_id: oldDead, tenant_id: NO_GROUP, subscriber: 'test.a', state: 'dead' },
      { id: newId(), event_id: recent, tenant_id: NO_GROUP, subscriber: 'test.a', state: 'done' },
    ])
    await db.table('messaging_inbox').multiInsert([
      { event_id: oldDone, subscriber: 'test.a', handled_at: past(30) },
      { event_id: recent, subscriber: 'test.a', handled_at: past(1) },
    ])

    const removed = await runMaintenance()
    assert.deepInclude(removed!, {
      idempotency_keys: 1,
      rate_limits: 1,
      identity_tokens: 2,
      messaging: 2,
    })

    assert.deepEqual(await ids('idempotency_keys'), [newKey])
    assert.deepEqual(await ids('rate_limits', 'key'), ['new'])
    assert.deepEqual(await ids('identity_revoked_access_tokens', 'jti'), [newJti])
    assert.deepEqual(await ids('identity_refresh_tokens'), [newRefresh])
    assert.sameMembers(await ids('messaging_outbox'), [oldDead, recent])
    assert.deepEqual(await ids('messaging_inbox', 'event_id'), [recent])
  })

  test('a pass yields while another process holds the maintenance lock', async ({ assert }) => {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    let locked!: () => void
    const lockTaken = new Promise<void>((resolve) => (locked = resolve))
    const holder = db.transaction(async (trx) => {
      await trx.rawQuery('SELECT pg_advisory_xact_lock(hashtext(?))', ['atrium_maintenance'])
      locked()
      await held
    })
    await lockTaken
    assert.isNull(await runMaintenance())
    release()
    await holder
    assert.isObject(await runMaintenance())
  })
})
