import amqp from 'amqplib'
import env from '#start/env'
import { moduleQueue } from '#app/messaging/transports/rabbitmq'

/**
 * Durable queues outlive test runs (and other tests' processes relay into
 * them): a test that counts effects empties its modules' queues first.
 */
export async function purgeRabbitQueues(modules: string[]) {
  if (!env.get('AMQP_URL')) return
  const connection = await amqp.connect(env.get('AMQP_URL')!)
  const channel = await connection.createChannel()
  channel.on('error', () => {})
  for (const module of modules) {
    await channel.checkQueue(moduleQueue(module)).then(
      () => channel.purgeQueue(moduleQueue(module)),
      () => null
    )
  }
  await connection.close().catch(() => {})
}
