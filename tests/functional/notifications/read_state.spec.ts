import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { assertMatchesOpenApi } from '#tests/helpers/openapi'
import { joinAs, registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, placeOrder, resetOrders } from '#tests/helpers/orders'
import { resetModuleTables } from '#tests/helpers/database'
import { drainBus } from '#tests/helpers/waiting'

test.group('notifications: read state is per user', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
    await resetModuleTables('notifications')
  })

  test('one member reading a tenant-wide notification leaves it unread for the others', async ({
    client,
    assert,
  }) => {
    const owner = await registerUser(client)
    const member = await joinAs(client, owner, 'member')
    await createItem(client, owner, { sku: 'A', onHand: 5 })
    const placed = await placeOrder(client, owner, [{ sku: 'A', quantity: 1 }])
    placed.assertStatus(202)
    await drainBus()

    const unreadFor = async (token: string) => {
      const response = await client
        .get('/api/v1/notifications')
        .qs({ unread: true })
        .bearerToken(token)
      assertMatchesOpenApi(response, 'GET', '/api/v1/notifications')
      return response.body().data as Array<{ id: string; readAt: string | null }>
    }
    const [shared] = await unreadFor(member.token)
    assert.exists(shared, 'the confirmation is visible to every member')

    const read = await client
      .post(`/api/v1/notifications/${shared.id}/read`)
      .bearerToken(member.token)
    read.assertStatus(200)
    assert.isString(read.body().readAt)
    const again = await client
      .post(`/api/v1/notifications/${shared.id}/read`)
      .bearerToken(member.token)
    assert.equal(again.body().readAt, read.body().readAt, 'the first read time stays')

    assert.deepEqual(await unreadFor(member.token), [])
    const forOwner = await unreadFor(owner.tokens.accessToken)
    assert.deepEqual(
      forOwner.map((entry) => [entry.id, entry.readAt]),
      [[shared.id, null]]
    )
    const [{ reads }] = await db.from('notifications_reads').count('* as reads')
    assert.equal(Number(reads), 1)
  })
})
