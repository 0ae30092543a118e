import { test } from '@japa/runner'
import db from '@adonisjs/lucid/services/db'
import { onTaskWake, TASKS_CHANNEL, wakeTaskAfterCommit } from '#app/platform/background'
import { until } from '#tests/helpers/waiting'
import { listenTo } from '#tests/helpers/listening'
import { newId } from '#app/platform/ids'
import { tenancy } from '#app/tenancy/tenancy'
import { notifications } from '#modules/notifications/index'
import { SEND_EMAILS } from '#modules/notifications/services/notifications'
import { resetModuleTables } from '#tests/helpers/database'

/*
| Work queued for a background task wakes that task's loop when its unit of
| work commits — only that task, once, and never for a rollback.
*/
test.group('background tasks woken by the work queued for them', (group) => {
  const woken: string[] = []
  group.each.setup(() => {
    woken.length = 0
    const stops = ['test.task_a', 'test.task_b', SEND_EMAILS].map((name) =>
      onTaskWake(name, () => woken.push(name))
    )
    return () => stops.forEach((stop) => stop())
  })

  test('after the commit, once per task however often asked; a rollback wakes nothing', async ({
    assert,
  }) => {
    await db.transaction(async (trx) => {
      await wakeTaskAfterCommit(trx, 'test.task_a')
      await wakeTaskAfterCommit(trx, 'test.task_a')
      await trx.rawQuery('SELECT 1')
      // Not before the commit: the rows it queued are not visible to the task yet.
      assert.deepEqual(woken, [])
    })
    assert.deepEqual(woken, ['test.task_a'])

    await assert.rejects(() =>
      db.transaction(async (trx) => {
        await wakeTaskAfterCommit(trx, 'test.task_b')
        await trx.rawQuery('SELECT 1')
        throw new Error('rolled back')
      })
    )
    assert.deepEqual(woken, ['test.task_a'])
  })

  test('inside a savepoint: nobody at its release; the workers hear it once the transaction commits', async ({
    assert,
    cleanup,
  }) => {
    const { payloads: heard, settle } = await listenTo(TASKS_CHANNEL, cleanup)

    await db.transaction(async (trx) => {
      await trx.transaction((savepoint) => wakeTaskAfterCommit(savepoint, 'test.task_a'))
      // Released, not committed: the rows it queued are still invisible to the task.
      await settle()
      assert.deepEqual(woken, [])
      assert.deepEqual(heard, [])
    })
    assert.isTrue(await until(async () => heard.length > 0, 10_000))
    assert.deepEqual(heard, ['test.task_a'])
  })

  test('a notice with mail wakes the mail task; one without mail wakes no task', async ({
    assert,
  }) => {
    await resetModuleTables('notifications')
    const tenantId = newId()
    await db
      .table('identity_tenants')
      .insert({ id: tenantId, name: 'Wake', slug: `wake-${tenantId}` })
    const notice = { tenantId, kind: 'test.wake', title: 'Hello', body: 'Hello there' }
    await tenancy.run(tenantId, (trx) => notifications.notify(trx, notice))
    assert.deepEqual(woken, [])
    await tenancy.run(tenantId, (trx) =>
      notifications.notify(trx, notice, {
        ...notice,
        email: { to: 'someone@example.com', subject: 'Hi', text: 'Hi' },
      })
    )
    assert.deepEqual(woken, [SEND_EMAILS])
    const [{ count }] = await db.from('notifications_emails').count('* as count')
    assert.equal(Number(count), 1)
  })
})
