import { test } from '@japa/runner'
import { SMTPServer } from 'smtp-server'
import type { AddressInfo } from 'node:net'
import db from '@adonisjs/lucid/services/db'
import { childEnv, finished, startNode, waitForLine } from '#tests/helpers/processes'
import { registerUser, resetIdentity } from '#tests/helpers/identity'
import { createItem, placeOrder, resetOrders } from '#tests/helpers/orders'
import { until } from '#tests/helpers/waiting'

/*
| With SMTP_HOST set, order mail goes out over SMTP: a worker process sends
| it to an SMTP server on loopback (smtp-server, speaking the real protocol).
*/
test.group('notifications over SMTP', (group) => {
  group.each.setup(async () => {
    await resetIdentity()
    await resetOrders()
    await db.rawQuery('TRUNCATE notifications_emails, notifications_notifications CASCADE')
  })

  test('a confirmed order mails the customer through the configured SMTP server', async ({
    client,
    assert,
    cleanup,
  }) => {
    const received: Array<{ from: string; to: string[]; data: string }> = []
    const smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onData(stream, session, callback) {
        let data = ''
        stream.on('data', (chunk: Buffer) => (data += chunk.toString()))
        stream.on('end', () => {
          received.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((entry) => entry.address),
            data,
          })
          callback()
        })
      },
    })
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()))
    cleanup(() => new Promise<void>((resolve) => smtp.close(() => resolve())))
    const port = (smtp.server.address() as AddressInfo).port

    const owner = await registerUser(client)
    await createItem(client, owner, { sku: 'A', onHand: 2 })
    const worker = startNode(
      ['tests/fixtures/worker.ts'],
      childEnv({
        BUS_TRANSPORT: 'local',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(port),
        MAIL_FROM: 'shop@example.com',
      })
    )
    cleanup(() => {
      worker.kill('SIGKILL')
    })
    const done = finished(worker, 60_000)
    await waitForLine(worker, /fixture worker ready/)

    const placed = await placeOrder(client, owner, [{ sku: 'A', quantity: 1 }])
    placed.assertStatus(202)
    assert.isTrue(await until(async () => received.length >= 1, 30_000), 'no mail arrived')
    worker.kill('SIGINT')
    await done

    const [mail] = received
    assert.equal(mail.from, 'shop@example.com')
    assert.deepEqual(mail.to, ['buyer@example.com'])
    assert.include(mail.data, 'Subject: Your order is confirmed')
    assert.include(mail.data, placed.body().id)
    const [row] = await db.from('notifications_emails')
    assert.include(row, { status: 'sent', attempts: 1 })
  })
})
