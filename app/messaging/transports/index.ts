import env from '#start/env'
import { localTransport, type Transport } from '#app/messaging/relay'
import { postgresOperations, type OperationsRunner } from '#app/operations/operations'

export function bullMqPrefix() {
  // Test runs share the machine's Redis: their queues live under the prefix each run clears.
  if (env.get('NODE_ENV') === 'test') return 'atrium-test'
  return env.get('BULLMQ_PREFIX') ?? 'atrium'
}

/**
 * The transport BUS_TRANSPORT names (start/env.ts has already refused a
 * broker transport without its URL). Broker clients load only when chosen.
 */
export async function createTransport(options: { leaseSeconds?: number } = {}): Promise<Transport> {
  const retryBaseMs = env.get('BUS_RETRY_BASE_MS') ?? 1000
  switch (env.get('BUS_TRANSPORT') ?? 'local') {
    case 'bullmq': {
      const { BullMqTransport } = await import('#app/messaging/transports/bullmq')
      return new BullMqTransport({
        redisUrl: env.get('REDIS_URL')!,
        prefix: bullMqPrefix(),
        retryBaseMs,
        lockMs: options.leaseSeconds ? options.leaseSeconds * 1000 : undefined,
      })
    }
    case 'rabbitmq': {
      const { RabbitMqTransport } = await import('#app/messaging/transports/rabbitmq')
      return new RabbitMqTransport({ url: env.get('AMQP_URL')!, retryBaseMs })
    }
    case 'kafka': {
      const { KafkaTransport } = await import('#app/messaging/transports/kafka')
      return new KafkaTransport({ brokers: env.get('KAFKA_BROKERS')!.split(','), retryBaseMs })
    }
    default:
      return localTransport
  }
}

/** Operations run on BullMQ when Redis is configured, from PostgreSQL otherwise (DESIGN.md §6). */
export async function createOperationsRunner(
  options: { leaseSeconds?: number } = {}
): Promise<OperationsRunner> {
  if (!env.get('REDIS_URL')) return postgresOperations
  const { BullMqOperations } = await import('#app/operations/bullmq_runner')
  return new BullMqOperations({
    redisUrl: env.get('REDIS_URL')!,
    prefix: bullMqPrefix(),
    lockMs: options.leaseSeconds ? options.leaseSeconds * 1000 : undefined,
  })
}
